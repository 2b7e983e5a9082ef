import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import ipaddr from 'ipaddr.js';
import { EnvironmentReader } from './environment.js';
import { parseMasterKey } from './master-key.js';
import { readConnectionProviders, type ConnectionProvider } from './connection-providers.js';

/** Which addresses the server may connect to on a user's behalf (webhook deliveries, http agents). */
export type AddressPolicy = {
  /** Private, loopback, link-local and every other non-public range. */
  allowPrivate: boolean;
  /** Addresses or CIDR ranges always allowed, e.g. one internal receiver. */
  allowList: string[];
};

const addressList = {
  accepts: (v: string) => v.split(',').every((a) => isIP(a.trim()) !== 0 || ipaddr.isValidCIDR(a.trim())),
  message: 'must be a comma-separated list of IP addresses or CIDR ranges',
};

const addressPolicy = (allowPrivate: boolean, allowed: string | undefined): AddressPolicy => ({
  allowPrivate,
  allowList: (allowed?.split(',') ?? []).map((a) => a.trim()),
});

/** A provider's API key as the API accepts one (printable ASCII); never echoed in a message. */
const providerKey = { max: 4000, accepts: (v: string) => /^[\x21-\x7e]+$/.test(v), message: 'must be printable ASCII without spaces' };
const providerUrl = {
  max: 2000,
  accepts: (v: string) => /^https?:\/\/[^/?#@\s]+(\/[^?#\s]*)?$/.test(v) && URL.canParse(v),
  message: 'must be an http:// or https:// URL without user name, password, query or fragment',
};
const matching = (pattern: RegExp, message: string) => ({ accepts: (v: string) => pattern.test(v), message });

const MEBIBYTE = 1024 * 1024;

/** Every variable by its rule; `problems` has a line for each that breaks it. */
function readEnvironment(env: NodeJS.ProcessEnv) {
  const read = new EnvironmentReader(env);
  const budget = (name: string, fallback: number) => read.number(name, { min: 1, max: 10_000_000, fallback });
  const values = {
    NODE_ENV: read.oneOf('NODE_ENV', ['development', 'test', 'production'], 'development'),
    PORT: read.number('PORT', { min: 0, max: 65535, fallback: 3000 }),
    HOST: read.text('HOST', { fallback: '127.0.0.1' }),
    DATABASE_URL: read.text('DATABASE_URL', matching(/^(postgres(ql)?:\/\/|sqlite:|file:|\/|\.)/, 'must be postgres://..., sqlite:<path> or a file path')),
    REDIS_URL: read.text('REDIS_URL', matching(/^rediss?:\/\//, 'must be redis://... or rediss://...')),
    LOG_LEVEL: read.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    SWITCHBOARD_BOOTSTRAP_KEY: read.text(
      'SWITCHBOARD_BOOTSTRAP_KEY',
      matching(/^sbk_[A-Za-z0-9_-]{43,200}$/, 'must be sbk_ followed by at least 43 URL-safe characters'),
    ),
    RATE_LIMIT_READ: budget('RATE_LIMIT_READ', 600),
    RATE_LIMIT_WRITE: budget('RATE_LIMIT_WRITE', 120),
    RATE_LIMIT_RUN: budget('RATE_LIMIT_RUN', 60),
    RATE_LIMIT_COSTLY: budget('RATE_LIMIT_COSTLY', 10),
    RATE_LIMIT_LLM: budget('RATE_LIMIT_LLM', 600),
    HTTP_HEADERS_TIMEOUT_MS: read.number('HTTP_HEADERS_TIMEOUT_MS', { min: 100, max: 300_000, fallback: 10_000 }),
    HTTP_REQUEST_TIMEOUT_MS: read.number('HTTP_REQUEST_TIMEOUT_MS', { min: 100, max: 3_600_000, fallback: 60_000 }),
    HTTP_KEEP_ALIVE_TIMEOUT_MS: read.number('HTTP_KEEP_ALIVE_TIMEOUT_MS', { min: 100, max: 600_000, fallback: 65_000 }),
    SHUTDOWN_GRACE_SECONDS: read.number('SHUTDOWN_GRACE_SECONDS', { min: 1, max: 3600, fallback: 30 }),
    TRUST_PROXY_HOPS: read.number('TRUST_PROXY_HOPS', { min: 0, max: 10, fallback: 0 }),
    BODY_LIMIT_BYTES: read.number('BODY_LIMIT_BYTES', { min: 1024, max: 100 * MEBIBYTE, fallback: MEBIBYTE }),
    GATEWAY_BODY_LIMIT_BYTES: read.number('GATEWAY_BODY_LIMIT_BYTES', { min: 1024, max: 100 * MEBIBYTE, fallback: 10 * MEBIBYTE }),
    UPLOAD_LIMIT_BYTES: read.number('UPLOAD_LIMIT_BYTES', { min: 1024, max: 100 * MEBIBYTE, fallback: 25 * MEBIBYTE }),
    TRANSCRIPTION_CONCURRENCY: read.number('TRANSCRIPTION_CONCURRENCY', { min: 1, max: 64, fallback: 4 }),
    TRANSCRIPTION_INTERVAL_MS: read.number('TRANSCRIPTION_INTERVAL_MS', { min: 100, max: 60_000, fallback: 1000 }),
    TRANSCRIPTION_CLAIM_SECONDS: read.number('TRANSCRIPTION_CLAIM_SECONDS', { min: 3, max: 3600, fallback: 60 }),
    KNOWLEDGE_CONCURRENCY: read.number('KNOWLEDGE_CONCURRENCY', { min: 1, max: 64, fallback: 2 }),
    KNOWLEDGE_INTERVAL_MS: read.number('KNOWLEDGE_INTERVAL_MS', { min: 100, max: 60_000, fallback: 1000 }),
    KNOWLEDGE_CLAIM_SECONDS: read.number('KNOWLEDGE_CLAIM_SECONDS', { min: 3, max: 3600, fallback: 120 }),
    KNOWLEDGE_UPLOAD_LIMIT_BYTES: read.number('KNOWLEDGE_UPLOAD_LIMIT_BYTES', { min: 1024, max: 100 * MEBIBYTE, fallback: 20 * MEBIBYTE }),
    RESPONSE_VALIDATION: read.oneOf('RESPONSE_VALIDATION', ['strict', 'log', 'off']),
    LEASE_SECONDS: read.number('LEASE_SECONDS', { min: 5, max: 3600, fallback: 30 }),
    REAPER_INTERVAL_MS: read.number('REAPER_INTERVAL_MS', { min: 100, max: 60_000, fallback: 1000 }),
    SSE_PING_SECONDS: read.number('SSE_PING_SECONDS', { min: 0.05, max: 300, fallback: 15, fraction: true }),
    // 0: unset, worked out from the database and NODE_ENV.
    WORKERS: read.number('WORKERS', { min: 1, max: 256, fallback: 0 }),
    RUNNER_ALLOW_PRIVATE_ADDRESSES: read.flag('RUNNER_ALLOW_PRIVATE_ADDRESSES'),
    SCHEDULER_INTERVAL_MS: read.number('SCHEDULER_INTERVAL_MS', { min: 100, max: 60_000, fallback: 1000 }),
    SCHEDULE_MISFIRE_SECONDS: read.number('SCHEDULE_MISFIRE_SECONDS', { min: 1, max: 86_400, fallback: 60 }),
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: read.flag('WEBHOOK_ALLOW_PRIVATE_ADDRESSES'),
    WEBHOOK_ALLOWED_ADDRESSES: read.text('WEBHOOK_ALLOWED_ADDRESSES', addressList),
    MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES: read.flag('MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES'),
    MODEL_PROVIDER_ALLOWED_ADDRESSES: read.text('MODEL_PROVIDER_ALLOWED_ADDRESSES', addressList),
    SWITCHBOARD_PUBLIC_URL: read.text('SWITCHBOARD_PUBLIC_URL', providerUrl),
    SWITCHBOARD_CONNECTION_PROVIDERS_FILE: read.text('SWITCHBOARD_CONNECTION_PROVIDERS_FILE', {
      max: 4000,
      accepts: (v) => v.trim() !== '',
      message: 'must be a file path',
    }),
    CONNECTION_ALLOW_PRIVATE_ADDRESSES: read.flag('CONNECTION_ALLOW_PRIVATE_ADDRESSES'),
    CONNECTION_ALLOWED_ADDRESSES: read.text('CONNECTION_ALLOWED_ADDRESSES', addressList),
    CONNECTIONS_REFRESH_AHEAD_SECONDS: read.number('CONNECTIONS_REFRESH_AHEAD_SECONDS', { min: 60, max: 86_400, fallback: 600 }),
    CONNECTIONS_SWEEP_INTERVAL_MS: read.number('CONNECTIONS_SWEEP_INTERVAL_MS', { min: 100, max: 3_600_000, fallback: 60_000 }),
    OPENAI_API_KEY: read.text('OPENAI_API_KEY', providerKey),
    OPENAI_BASE_URL: read.text('OPENAI_BASE_URL', providerUrl),
    ANTHROPIC_API_KEY: read.text('ANTHROPIC_API_KEY', providerKey),
    SWITCHBOARD_DEFAULT_MODEL: read.text('SWITCHBOARD_DEFAULT_MODEL', {
      max: 200,
      ...matching(/^\P{Cc}+$/u, 'must be a model name without control characters'),
    }),
    WEBHOOK_INTERVAL_MS: read.number('WEBHOOK_INTERVAL_MS', { min: 100, max: 60_000, fallback: 1000 }),
    WEBHOOK_TIMEOUT_MS: read.number('WEBHOOK_TIMEOUT_MS', { min: 100, max: 60_000, fallback: 15_000 }),
    WEBHOOK_CONCURRENCY: read.number('WEBHOOK_CONCURRENCY', { min: 1, max: 256, fallback: 16 }),
    SIGNUP: read.oneOf('SIGNUP', ['invite', 'open'], 'invite'),
    SESSION_IDLE_SECONDS: read.number('SESSION_IDLE_SECONDS', { min: 60, max: 90 * 86_400, fallback: 7 * 86_400 }),
    SESSION_ABSOLUTE_SECONDS: read.number('SESSION_ABSOLUTE_SECONDS', { min: 60, max: 365 * 86_400, fallback: 30 * 86_400 }),
    LOGIN_FAILURES_PER_ACCOUNT: read.number('LOGIN_FAILURES_PER_ACCOUNT', { min: 1, max: 10_000, fallback: 10 }),
    LOGIN_FAILURES_PER_ADDRESS: read.number('LOGIN_FAILURES_PER_ADDRESS', { min: 1, max: 100_000, fallback: 100 }),
    LOGIN_FAILURE_WINDOW_SECONDS: read.number('LOGIN_FAILURE_WINDOW_SECONDS', { min: 1, max: 86_400, fallback: 900 }),
    SWITCHBOARD_MASTER_KEY: read.text('SWITCHBOARD_MASTER_KEY', {
      accepts: (v) => parseMasterKey(v) !== undefined,
      message: 'must be 32 random bytes, base64-encoded (openssl rand -base64 32)',
    }),
    METRICS_TOKEN: read.text('METRICS_TOKEN', {
      max: 512,
      ...matching(/^[\x21-\x7e]{32,}$/, 'must be at least 32 printable ASCII characters without spaces (openssl rand -hex 32)'),
    }),
    METRICS_PORT: read.number('METRICS_PORT', { min: 1, max: 65535, fallback: 0 }),
    METRICS_HOST: read.text('METRICS_HOST', { max: 253, ...matching(/^[0-9A-Za-z.:-]+$/, 'must be an IP address or a host name') }),
    SWITCHBOARD_PREVIOUS_MASTER_KEYS: read.text('SWITCHBOARD_PREVIOUS_MASTER_KEYS', {
      accepts: (v) => v.split(',').every((k) => parseMasterKey(k) !== undefined),
      message: 'must be a comma-separated list of base64-encoded 32-byte keys',
    }),
  };
  return { values, problems: read.problems };
}

type EnvironmentValues = ReturnType<typeof readEnvironment>['values'];

export type Config = {
  env: 'development' | 'test' | 'production';
  port: number;
  host: string;
  database: { client: 'sqlite'; filename: string } | { client: 'pg'; url: string };
  redisUrl: string | undefined;
  logLevel: string;
  bootstrapKey: string | undefined;
  rateLimits: Record<'read' | 'write' | 'run' | 'costly' | 'llm', number>;
  bodyLimitBytes: number;
  /** The gateway's routes take larger bodies (long conversations, images as base64) than the rest of the API. */
  gateway: { bodyLimitBytes: number };
  /** The largest file a multipart upload may carry (its other parts stay within `bodyLimitBytes`). */
  uploadLimitBytes: number;
  /**
   * Slow clients: the request line and headers must arrive within `headersTimeoutMs`, the whole
   * request within `requestTimeoutMs`; an idle kept-alive connection is closed after `keepAliveTimeoutMs`.
   */
  http: { headersTimeoutMs: number; requestTimeoutMs: number; keepAliveTimeoutMs: number };
  /** How long a stopping server waits for its requests and connections to end before it closes them (deploy/README.md). */
  shutdownGraceSeconds: number;
  /** How many proxies in front of the server append to X-Forwarded-For (0: the header is ignored, the peer's address is the client's). */
  trustProxyHops: number;
  /** strict: a response that breaks the contract becomes a 500; log: it is logged and sent. */
  responseValidation: 'strict' | 'log' | 'off';
  runs: { leaseSeconds: number; reaperIntervalMs: number };
  /** How often due schedules are fired, and how late a due time may be before it counts as missed. */
  schedules: { intervalMs: number; misfireMs: number };
  ssePingSeconds: number;
  /** Server processes sharing the port (node:cluster), each a replica: more than one only on PostgreSQL. */
  workers: number;
  /**
   * People: who may sign up after the first user (by invitation only, or anyone, each into a new
   * organization), how long a cookie session lives (idle, sliding; and at most), and how many failed
   * logins an account and an address may have per window before logins are refused for its rest.
   */
  identity: {
    signup: 'invite' | 'open';
    sessionIdleMs: number;
    sessionAbsoluteMs: number;
    loginFailures: { perAccount: number; perAddress: number; windowSeconds: number };
  };
  /** Encrypt the secrets the server must read back; previous keys still decrypt (rotation). Without a current key, SQLite keeps one next to its file. */
  masterKeys: { current: Buffer | undefined; previous: Buffer[] };
  /** Whether the built-in runner's http agents may call private, loopback and link-local addresses. */
  runnerAllowPrivateAddresses: boolean;
  /**
   * Which addresses model providers may be at (a local Ollama is private: allow it here), and the
   * providers the first start creates from OPENAI_* and ANTHROPIC_API_KEY (see models-from-environment.ts).
   */
  modelProviders: { policy: AddressPolicy; fromEnvironment: EnvironmentProviders };
  /**
   * Transcription jobs: how many one replica sends to providers at once, how often it looks for
   * queued ones, and how long a job stays claimed without its worker extending the claim (the time
   * before another replica takes over the job of one that crashed).
   */
  transcriptions: { concurrency: number; intervalMs: number; claimMs: number };
  /** Document indexing: parallel documents per replica, the poll interval, how long a claim lasts, the largest file an upload may bring. */
  knowledge: { concurrency: number; intervalMs: number; claimMs: number; uploadLimitBytes: number };
  /**
   * Connections: the providers' catalogue (SWITCHBOARD_CONNECTION_PROVIDERS_FILE), which addresses
   * the credential proxy and the token calls may reach, and the address people's browsers reach the
   * server at (connect links and the OAuth redirect URI are on it); how long before their expiry
   * idle OAuth tokens are refreshed, and how often the sweeper that does it looks.
   */
  connections: { providers: ConnectionProvider[]; policy: AddressPolicy; publicUrl: string; refreshAheadMs: number; sweepIntervalMs: number };
  /** Outgoing webhooks: which addresses deliveries may reach, each attempt's timeout, the poll interval, parallel deliveries. */
  webhooks: { policy: AddressPolicy; timeoutMs: number; intervalMs: number; concurrency: number };
  /**
   * Prometheus metrics: `GET /metrics` on the API's port for a bearer `token`, and/or on a listener of
   * its own (`listen`, no token: keep it on a private address). Neither: no metrics are collected or served.
   */
  metrics: { token: string | undefined; listen: { port: number; host: string } | undefined };
};

/** Provider keys (and OpenAI's base URL) found in the environment, and the upstream model `default` names. */
export type EnvironmentProviders = {
  openai?: { apiKey: string; baseUrl?: string };
  anthropic?: { apiKey: string };
  defaultModel?: string;
};

export class ConfigError extends Error {}

/** A base URL or default model without the key that makes a provider of it: refused rather than ignored. */
function environmentProviders(c: EnvironmentValues): EnvironmentProviders {
  const orphans = [
    ['OPENAI_BASE_URL', c.OPENAI_BASE_URL, c.OPENAI_API_KEY, 'OPENAI_API_KEY (any value for a server that needs none, e.g. OPENAI_API_KEY=ollama)'],
    ['SWITCHBOARD_DEFAULT_MODEL', c.SWITCHBOARD_DEFAULT_MODEL, c.OPENAI_API_KEY ?? c.ANTHROPIC_API_KEY, 'OPENAI_API_KEY or ANTHROPIC_API_KEY'],
  ].filter(([, value, key]) => value !== undefined && key === undefined);
  if (orphans.length) {
    throw new ConfigError(`Invalid configuration:\n${orphans.map(([name, , , needs]) => `  ${name}: only used with ${needs}`).join('\n')}`);
  }
  return {
    ...(c.OPENAI_API_KEY ? { openai: { apiKey: c.OPENAI_API_KEY, ...(c.OPENAI_BASE_URL ? { baseUrl: c.OPENAI_BASE_URL } : {}) } } : {}),
    ...(c.ANTHROPIC_API_KEY ? { anthropic: { apiKey: c.ANTHROPIC_API_KEY } } : {}),
    ...(c.SWITCHBOARD_DEFAULT_MODEL ? { defaultModel: c.SWITCHBOARD_DEFAULT_MODEL } : {}),
  };
}

/** The database DATABASE_URL names (the admin commands read it too): PostgreSQL, or a SQLite file (./data/switchboard.db unset). */
export function databaseOf(url: string | undefined): Config['database'] {
  return url && /^postgres(ql)?:\/\//.test(url)
    ? { client: 'pg', url }
    : { client: 'sqlite', filename: url ? url.replace(/^(sqlite|file):/, '') : './data/switchboard.db' };
}

/** Reads and validates configuration; throws ConfigError with one line per bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const { values: c, problems } = readEnvironment(env);
  if (problems.length) throw new ConfigError(`Invalid configuration:\n${problems.join('\n')}`);
  const database = databaseOf(c.DATABASE_URL);
  if (!c.SWITCHBOARD_MASTER_KEY && database.client === 'pg') {
    throw new ConfigError(
      'Invalid configuration:\n  SWITCHBOARD_MASTER_KEY: required with PostgreSQL, and the same on every replica (openssl rand -base64 32)',
    );
  }
  if (c.HTTP_REQUEST_TIMEOUT_MS < c.HTTP_HEADERS_TIMEOUT_MS) {
    throw new ConfigError(
      `Invalid configuration:\n  HTTP_REQUEST_TIMEOUT_MS: must be at least HTTP_HEADERS_TIMEOUT_MS (${c.HTTP_HEADERS_TIMEOUT_MS}): the whole request includes its headers`,
    );
  }
  // In production on PostgreSQL a process per core, as replicas on one machine would be; SQLite is
  // served by one process (its writes, group commit and event bus live in it).
  const workers = c.WORKERS || (c.NODE_ENV === 'production' && database.client === 'pg' ? availableParallelism() : 1);
  if (workers > 1 && database.client !== 'pg') {
    throw new ConfigError(
      'Invalid configuration:\n  WORKERS: more than 1 needs PostgreSQL (DATABASE_URL=postgres://...): worker processes share the database and the event bus, and SQLite is served by one process',
    );
  }
  if (c.METRICS_PORT && c.METRICS_PORT === c.PORT) {
    throw new ConfigError('Invalid configuration:\n  METRICS_PORT: must differ from PORT (the metrics listener is a server of its own)');
  }
  if (c.METRICS_HOST !== undefined && !c.METRICS_PORT) {
    throw new ConfigError('Invalid configuration:\n  METRICS_HOST: only used with METRICS_PORT');
  }
  const catalogue = readConnectionProviders(c.SWITCHBOARD_CONNECTION_PROVIDERS_FILE);
  if (catalogue.problems.length) throw new ConfigError(`Invalid configuration:\n${catalogue.problems.map((p) => `  ${p}`).join('\n')}`);
  const masterKeys = {
    current: c.SWITCHBOARD_MASTER_KEY ? parseMasterKey(c.SWITCHBOARD_MASTER_KEY) : undefined,
    previous: (c.SWITCHBOARD_PREVIOUS_MASTER_KEYS?.split(',') ?? []).map((k) => parseMasterKey(k)!),
  };
  return {
    env: c.NODE_ENV,
    port: c.PORT,
    host: c.HOST,
    database,
    redisUrl: c.REDIS_URL,
    logLevel: c.LOG_LEVEL,
    bootstrapKey: c.SWITCHBOARD_BOOTSTRAP_KEY,
    rateLimits: { read: c.RATE_LIMIT_READ, write: c.RATE_LIMIT_WRITE, run: c.RATE_LIMIT_RUN, costly: c.RATE_LIMIT_COSTLY, llm: c.RATE_LIMIT_LLM },
    bodyLimitBytes: c.BODY_LIMIT_BYTES,
    gateway: { bodyLimitBytes: c.GATEWAY_BODY_LIMIT_BYTES },
    uploadLimitBytes: c.UPLOAD_LIMIT_BYTES,
    http: { headersTimeoutMs: c.HTTP_HEADERS_TIMEOUT_MS, requestTimeoutMs: c.HTTP_REQUEST_TIMEOUT_MS, keepAliveTimeoutMs: c.HTTP_KEEP_ALIVE_TIMEOUT_MS },
    shutdownGraceSeconds: c.SHUTDOWN_GRACE_SECONDS,
    trustProxyHops: c.TRUST_PROXY_HOPS,
    responseValidation: c.RESPONSE_VALIDATION ?? (c.NODE_ENV === 'production' ? 'log' : 'strict'),
    runs: { leaseSeconds: c.LEASE_SECONDS, reaperIntervalMs: c.REAPER_INTERVAL_MS },
    schedules: { intervalMs: c.SCHEDULER_INTERVAL_MS, misfireMs: c.SCHEDULE_MISFIRE_SECONDS * 1000 },
    ssePingSeconds: c.SSE_PING_SECONDS,
    workers,
    runnerAllowPrivateAddresses: c.RUNNER_ALLOW_PRIVATE_ADDRESSES,
    webhooks: {
      policy: addressPolicy(c.WEBHOOK_ALLOW_PRIVATE_ADDRESSES, c.WEBHOOK_ALLOWED_ADDRESSES),
      timeoutMs: c.WEBHOOK_TIMEOUT_MS,
      intervalMs: c.WEBHOOK_INTERVAL_MS,
      concurrency: c.WEBHOOK_CONCURRENCY,
    },
    connections: {
      providers: catalogue.providers,
      policy: addressPolicy(c.CONNECTION_ALLOW_PRIVATE_ADDRESSES, c.CONNECTION_ALLOWED_ADDRESSES),
      // Without one, the address the server listens on: right for a single machine, not behind a proxy.
      publicUrl: (c.SWITCHBOARD_PUBLIC_URL ?? `http://${c.HOST.includes(':') ? `[${c.HOST}]` : c.HOST}:${c.PORT}`).replace(/\/+$/, ''),
      refreshAheadMs: c.CONNECTIONS_REFRESH_AHEAD_SECONDS * 1000,
      sweepIntervalMs: c.CONNECTIONS_SWEEP_INTERVAL_MS,
    },
    transcriptions: { concurrency: c.TRANSCRIPTION_CONCURRENCY, intervalMs: c.TRANSCRIPTION_INTERVAL_MS, claimMs: c.TRANSCRIPTION_CLAIM_SECONDS * 1000 },
    knowledge: {
      concurrency: c.KNOWLEDGE_CONCURRENCY,
      intervalMs: c.KNOWLEDGE_INTERVAL_MS,
      claimMs: c.KNOWLEDGE_CLAIM_SECONDS * 1000,
      uploadLimitBytes: c.KNOWLEDGE_UPLOAD_LIMIT_BYTES,
    },
    modelProviders: {
      policy: addressPolicy(c.MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES, c.MODEL_PROVIDER_ALLOWED_ADDRESSES),
      fromEnvironment: environmentProviders(c),
    },
    identity: {
      signup: c.SIGNUP,
      sessionIdleMs: c.SESSION_IDLE_SECONDS * 1000,
      sessionAbsoluteMs: Math.max(c.SESSION_ABSOLUTE_SECONDS, c.SESSION_IDLE_SECONDS) * 1000,
      loginFailures: { perAccount: c.LOGIN_FAILURES_PER_ACCOUNT, perAddress: c.LOGIN_FAILURES_PER_ADDRESS, windowSeconds: c.LOGIN_FAILURE_WINDOW_SECONDS },
    },
    masterKeys,
    metrics: {
      token: c.METRICS_TOKEN,
      listen: c.METRICS_PORT ? { port: c.METRICS_PORT, host: c.METRICS_HOST ?? '127.0.0.1' } : undefined,
    },
  };
}
