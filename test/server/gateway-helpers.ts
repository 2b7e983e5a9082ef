import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { expect } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { inspectDatabase } from '../support/inspect-database.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { startTestProvider, type TestProvider } from '../support/test-provider.js';
import { call, type Conn } from './run-helpers.js';

export type Model = components['schemas']['Model'];
export type ModelProvider = components['schemas']['ModelProvider'];
export type ModelCreate = components['schemas']['ModelCreate'];

/** A usage_events row as stored. */
export type UsageRow = {
  id: string;
  application_id: string;
  request_id: string;
  key_id: string | null;
  run_id: string | null;
  end_user_id: string | null;
  model_id: string | null;
  alias: string;
  provider_id: string | null;
  upstream_model: string | null;
  api: string;
  outcome: 'succeeded' | 'failed' | 'aborted';
  streamed: boolean | number;
  usage_reported: boolean | number;
  input_tokens: number | string | null;
  output_tokens: number | string | null;
  cached_input_tokens: number | string | null;
  cost_micros: number | string | null;
  attempts: number;
  fallbacks_used: number;
  latency_ms: number;
  first_byte_ms: number | null;
  upstream_status: number | null;
  error_code: string | null;
};

/**
 * A server on its own database with a test provider on loopback, which only this server may call
 * (`MODEL_PROVIDER_ALLOWED_ADDRESSES=127.0.0.1`: the shared server keeps refusing loopback), and
 * one provider of each kind pointing at it with the credential the test provider requires.
 */
export type Gateway = {
  server: ServerProcess;
  provider: TestProvider;
  /** The provider's credential, as the test provider requires it and the gateway must send it. */
  credential: string;
  conn: Conn;
  /** `<server>/api/v1/llm/openai/v1`, an OpenAI SDK's baseURL. */
  openaiBaseUrl: string;
  /** `<server>/api/v1/llm/anthropic`, an Anthropic SDK's baseURL. */
  anthropicBaseUrl: string;
  openaiProvider: ModelProvider;
  anthropicProvider: ModelProvider;
  db: Knex;
  stop(): Promise<void>;
};

export async function startGateway(env: Record<string, string> = {}): Promise<Gateway> {
  const credential = `sk-test-${randomBytes(24).toString('hex')}`;
  const provider = await startTestProvider({ apiKey: credential });
  const server = await startServerProcess({
    MODEL_PROVIDER_ALLOWED_ADDRESSES: '127.0.0.1',
    LOG_LEVEL: 'info',
    RATE_LIMIT_LLM: '100000',
    RATE_LIMIT_READ: '100000',
    RATE_LIMIT_WRITE: '100000',
    ...env,
  });
  const conn: Conn = { baseUrl: server.url, key: server.adminKey };
  const gateway = { conn, provider, credential };
  const openaiProvider = await createProvider(gateway, 'openai');
  const anthropicProvider = await createProvider(gateway, 'anthropic');
  const db = inspectDatabase(server.database);
  return {
    server,
    provider,
    credential,
    conn,
    openaiBaseUrl: `${server.url}/api/v1/llm/openai/v1`,
    anthropicBaseUrl: `${server.url}/api/v1/llm/anthropic`,
    openaiProvider,
    anthropicProvider,
    db,
    async stop() {
      await db.destroy();
      await server.stop();
      await provider.close();
    },
  };
}

/** A provider of the test provider's, with its credential; `timeoutSeconds` 5 unless said (the hang tests take 1). */
export async function createProvider(
  gateway: Pick<Gateway, 'conn' | 'provider' | 'credential'>,
  kind: 'openai' | 'anthropic',
  options: { timeoutSeconds?: number; credential?: string; name?: string } = {},
): Promise<ModelProvider> {
  const baseUrl = kind === 'openai' ? gateway.provider.openaiBaseUrl : `${gateway.provider.url}/v1`;
  const reply = await call<ModelProvider>(gateway.conn, 'POST', '/api/v1/model-providers', {
    name: options.name ?? `${kind} ${++providers}`,
    kind,
    baseUrl,
    credential: options.credential ?? gateway.credential,
    timeoutSeconds: options.timeoutSeconds ?? 5,
  });
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  return reply.body;
}
let providers = 0;

let aliases = 0;
/** A fresh alias name, unique in the file. */
export const aliasName = (prefix: string) => `${prefix}-${++aliases}`;

export async function createAlias(gateway: Gateway, body: Partial<ModelCreate> & { alias: string }): Promise<Model> {
  const reply = await call<Model>(gateway.conn, 'POST', '/api/v1/models', {
    providerId: body.api === 'messages' ? gateway.anthropicProvider.id : gateway.openaiProvider.id,
    upstreamModel: 'gpt-4.1-mini',
    ...body,
  });
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  return reply.body;
}

/** The one usage row of a request (by its Request-Id), waiting up to `waitMs` for it to be written. */
export async function usageRow(gateway: Gateway, requestId: string | null, waitMs = 0): Promise<UsageRow> {
  expect(requestId).toMatch(/^req_/);
  const until = Date.now() + waitMs;
  for (;;) {
    const rows = (await gateway.db('usage_events').where({ request_id: requestId })) as UsageRow[];
    if (rows.length || Date.now() >= until) {
      expect(rows).toHaveLength(1);
      return rows[0]!;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Counts as numbers (PostgreSQL returns bigint columns as strings), null kept. */
export const num = (value: number | string | null) => (value === null ? null : Number(value));

/** 0.40 USD per million input tokens, 1.60 per million output tokens. */
export const PRICING = { inputMicrosPerMillionTokens: 400_000, outputMicrosPerMillionTokens: 1_600_000 };

/**
 * A gateway server of the test's own (its ledger and budgets hold only what the test made) with a
 * chat alias at PRICING, and the webhook messages of `eventTypes` kept in `webhook_messages` (sent
 * to an endpoint nobody listens at) for the test to read.
 */
export async function startPricedGateway(eventTypes: string[], env: Record<string, string> = {}): Promise<{ gateway: Gateway; chat: string }> {
  const gateway = await startGateway({ WEBHOOK_ALLOWED_ADDRESSES: '127.0.0.1', ...env });
  const chat = (await createAlias(gateway, { alias: aliasName('chat'), upstreamModel: 'gpt-4.1-mini', api: 'chat', pricing: PRICING })).alias;
  const endpoint = await call(gateway.conn, 'POST', '/api/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks', eventTypes });
  expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
  return { gateway, chat };
}
