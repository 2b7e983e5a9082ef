import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The runs that are not finished, by status, and when the oldest queued one was queued (ISO time). */
export type ActiveRuns = { queued: number; running: number; waiting: number; oldestQueuedAt: string | null };

/** The database pool as knex's pool (tarn) sees it. */
export type PoolStats = { used: number; free: number; pendingAcquires: number; pendingCreates: number; max: number };

/** What the gauges read when they are scraped. */
export type MetricSources = {
  activeRuns: () => Promise<ActiveRuns>;
  pool: () => PoolStats;
  sseConnections: () => number;
};

/** How one request was answered: `operationId` is the operation the router matched, or undefined (no route). */
export type HttpMetrics = {
  request(operationId: string | undefined, method: string, status: number, seconds: number): void;
  problem(code: string): void;
};

export type RunMetrics = {
  /** A run was claimed after waiting this long since it was queued. */
  claimed(waitedSeconds: number): void;
  /** One claim transaction took this long, and found a run or none. */
  claimAttempt(seconds: number, found: boolean): void;
};

/** success: delivered; retry: failed, another attempt is scheduled; failed: failed, the message was given up. */
export type WebhookOutcome = 'success' | 'retry' | 'failed';
export type WebhookMetrics = {
  /** `answered`: the endpoint answered (with some status) rather than timing out or refusing the connection. */
  attempt(outcome: WebhookOutcome, answered: boolean, seconds: number): void;
};

export type GatewayMetrics = {
  call(call: { provider: string; alias: string; outcome: string; inputTokens: number | null; outputTokens: number | null; costMicros: number | null }): void;
};

export type Metrics = { http: HttpMetrics; runs: RunMetrics; webhooks: WebhookMetrics; gateway: GatewayMetrics };

/** Database gauges are read at most this often, whatever the scrape rate (several Prometheus servers, several workers). */
const DB_GAUGE_TTL_MS = 2000;
/** Model aliases are named by users: past this many distinct ones, the rest are counted as `other`. */
const MAX_ALIASES = 100;

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const QUEUE_WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** A label whose values users choose, kept to at most `limit` distinct values (then `other`). */
function boundedLabel(limit: number): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    if (seen.has(value)) return value;
    if (seen.size >= limit) return 'other';
    seen.add(value);
    return value;
  };
}

/** `read`, at most once per `ttlMs`: concurrent and repeated scrapes share one read. */
function cached<T>(read: () => Promise<T>, ttlMs: number): () => Promise<T> {
  let value: Promise<T> | undefined;
  let readAt = 0;
  return () => {
    const now = performance.now();
    if (!value || now - readAt >= ttlMs) {
      readAt = now;
      value = read();
      // A failed read is not kept: the next scrape tries again.
      value.catch(() => {
        value = undefined;
      });
    }
    return value;
  };
}

/**
 * Every metric of the server, registered in `registry` (one per server, so several in one process
 * do not collide), and the recorders the pipeline, the claim, the webhook deliverer and the gateway call.
 * Labels are low-cardinality only: operation ids, methods, statuses, problem codes, provider kinds,
 * model aliases (bounded), never a resource's id.
 *
 * Counters and histograms are per process and summed across cluster workers; gauges read from the
 * database are the same in every process and aggregated with `max`.
 */
export function createMetrics(registry: Registry, sources: MetricSources): Metrics {
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const httpRequests = new Counter({
    name: 'switchboard_http_requests_total',
    help: 'HTTP requests answered, by operation (operationId of the contract; "none" when no route matched), method and status.',
    labelNames: ['operation_id', 'method', 'status'] as const,
    registers,
  });
  const httpDuration = new Histogram({
    name: 'switchboard_http_request_duration_seconds',
    help: 'Time from a request arriving to its answer (a stream: until it began), by operation, method and status.',
    labelNames: ['operation_id', 'method', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const problems = new Counter({
    name: 'switchboard_http_problems_total',
    help: 'Error responses, by problem code (RFC 9457 type, e.g. not-found, rate-limited, internal-error).',
    labelNames: ['code'] as const,
    registers,
  });

  const activeRuns = cached(sources.activeRuns, DB_GAUGE_TTL_MS);
  new Gauge({
    name: 'switchboard_runs',
    help: 'Runs not finished, by status (queued, running, waiting), read from the database.',
    labelNames: ['status'] as const,
    aggregator: 'max',
    registers,
    async collect() {
      const runs = await activeRuns();
      for (const status of ['queued', 'running', 'waiting'] as const) this.set({ status }, runs[status]);
    },
  });
  new Gauge({
    name: 'switchboard_run_queue_oldest_age_seconds',
    help: 'How long the oldest queued run has been waiting to be claimed; 0 when none is queued.',
    aggregator: 'max',
    registers,
    async collect() {
      const { oldestQueuedAt } = await activeRuns();
      this.set(oldestQueuedAt ? Math.max(0, (Date.now() - Date.parse(oldestQueuedAt)) / 1000) : 0);
    },
  });
  const claimWait = new Histogram({
    name: 'switchboard_run_claim_wait_seconds',
    help: 'How long each claimed run had waited queued, observed when a runner claimed it.',
    buckets: QUEUE_WAIT_BUCKETS,
    registers,
  });
  const claimDuration = new Histogram({
    name: 'switchboard_run_claim_duration_seconds',
    help: 'Duration of one claim transaction (looking for a run and leasing it), by whether a run was found.',
    labelNames: ['found'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });

  const webhookAttempts = new Counter({
    name: 'switchboard_webhook_attempts_total',
    help: 'Webhook delivery attempts, by outcome: success, retry (failed, another attempt scheduled), failed (failed, the message was given up).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const webhookFailures = new Counter({
    name: 'switchboard_webhook_failures_total',
    help: 'Failed webhook delivery attempts, by reason: status (the endpoint answered other than 2xx) or network (no answer: timeout, refused, address not allowed).',
    labelNames: ['reason'] as const,
    registers,
  });
  const webhookDuration = new Histogram({
    name: 'switchboard_webhook_attempt_duration_seconds',
    help: 'Duration of each webhook delivery attempt.',
    buckets: LATENCY_BUCKETS,
    registers,
  });

  new Gauge({
    name: 'switchboard_sse_connections',
    help: 'Server-Sent Event streams open now.',
    registers,
    collect() {
      this.set(sources.sseConnections());
    },
  });

  const alias = boundedLabel(MAX_ALIASES);
  const gatewayCalls = new Counter({
    name: 'switchboard_gateway_calls_total',
    help: 'AI gateway calls recorded, by provider kind, model alias and outcome.',
    labelNames: ['provider', 'model_alias', 'outcome'] as const,
    registers,
  });
  const gatewayTokens = new Counter({
    name: 'switchboard_gateway_tokens_total',
    help: 'Tokens the providers reported for gateway calls, by provider kind, model alias and direction (input, output).',
    labelNames: ['provider', 'model_alias', 'direction'] as const,
    registers,
  });
  const gatewayCost = new Counter({
    name: 'switchboard_gateway_cost_usd_total',
    help: 'Cost of gateway calls in US dollars at the models\u2019 configured prices, by provider kind and model alias (unpriced calls add nothing).',
    labelNames: ['provider', 'model_alias'] as const,
    registers,
  });

  new Gauge({
    name: 'switchboard_db_pool_connections',
    help: 'Database pool connections by state: used, free, pending_acquire (queries waiting for a connection), pending_create.',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const pool = sources.pool();
      this.set({ state: 'used' }, pool.used);
      this.set({ state: 'free' }, pool.free);
      this.set({ state: 'pending_acquire' }, pool.pendingAcquires);
      this.set({ state: 'pending_create' }, pool.pendingCreates);
    },
  });
  new Gauge({
    name: 'switchboard_db_pool_max_connections',
    help: 'The most connections the database pool opens (1 on SQLite: one writer).',
    registers,
    collect() {
      this.set(sources.pool().max);
    },
  });

  return {
    http: {
      request(operationId, method, status, seconds) {
        const labels = { operation_id: operationId ?? 'none', method, status: String(status) };
        httpRequests.inc(labels);
        httpDuration.observe(labels, seconds);
      },
      problem: (code) => problems.inc({ code }),
    },
    runs: {
      claimed: (waitedSeconds) => claimWait.observe(Math.max(0, waitedSeconds)),
      claimAttempt: (seconds, found) => claimDuration.observe({ found: String(found) }, seconds),
    },
    webhooks: {
      attempt(outcome, answered, seconds) {
        webhookAttempts.inc({ outcome });
        if (outcome !== 'success') webhookFailures.inc({ reason: answered ? 'status' : 'network' });
        webhookDuration.observe(seconds);
      },
    },
    gateway: {
      call(call) {
        const labels = { provider: call.provider, model_alias: alias(call.alias) };
        gatewayCalls.inc({ ...labels, outcome: call.outcome });
        if (call.inputTokens) gatewayTokens.inc({ ...labels, direction: 'input' }, call.inputTokens);
        if (call.outputTokens) gatewayTokens.inc({ ...labels, direction: 'output' }, call.outputTokens);
        if (call.costMicros) gatewayCost.inc(labels, call.costMicros / 1_000_000);
      },
    },
  };
}
