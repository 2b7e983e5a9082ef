import { expect, inject } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { rawClient, uniqueName, type ApiClient } from '../support/client.js';

export type Agent = components['schemas']['Agent'];
export type AgentCreate = components['schemas']['AgentCreate'];
export type ApiKeyWithSecret = components['schemas']['ApiKeyWithSecret'];
export type Application = components['schemas']['Application'];
export type Scope = components['schemas']['ApiKeyScope'];
export type ModelProvider = components['schemas']['ModelProvider'];
export type ModelProviderCreate = components['schemas']['ModelProviderCreate'];
export type Model = components['schemas']['Model'];
export type ModelCreate = components['schemas']['ModelCreate'];

export const REQUEST_ID = /^req_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A token that is safe in names, labels and `q` filters, and unique across parallel files. */
export const token = () =>
  uniqueName('t')
    .replace(/[^a-z0-9]/gi, '')
    .toLowerCase();

/** A well-formed TypeID that names nothing. */
export const absentId = (prefix: 'agent' | 'app' | 'key' | 'prov' | 'model') => `${prefix}_01jd4x7p2kf8q6v3b9m5t0s1ab`;

/** A key factory picked at random: each has 120 writes a minute, shared by every file, so spend them only on keys. */
const keyFactory = () => {
  const factories = inject('keyFactories');
  return factories[Math.floor(Math.random() * factories.length)]!;
};

export async function createKey(options: {
  scopes: Scope[];
  by?: string;
  appId?: string;
  expiresAt?: string;
  name?: string;
  baseUrl?: string;
}): Promise<ApiKeyWithSecret> {
  const api = rawClient({
    key: options.by ?? (options.baseUrl ? undefined : keyFactory()),
    baseUrl: options.baseUrl,
    headers: options.appId ? { 'X-App-Id': options.appId } : {},
  });
  const { data, error, response } = await api.POST('/api/v1/api-keys', {
    body: { name: options.name ?? uniqueName('key'), scopes: options.scopes, ...(options.expiresAt ? { expiresAt: options.expiresAt } : {}) } as never,
  });
  if (response.status !== 201 || !data) throw new Error(`creating an API key failed: ${response.status} ${JSON.stringify(error)}`);
  return data;
}

/** A fresh admin key in the default application, with its own rate-limit budget. */
export async function freshAdmin(by?: string): Promise<string> {
  return (await createKey({ scopes: ['admin'], by })).secret;
}

export async function createApplication(by: string, name = uniqueName('app')): Promise<Application> {
  const { data, error, response } = await rawClient({ key: by }).POST('/api/v1/applications', { body: { name } as never });
  if (response.status !== 201 || !data) throw new Error(`creating an application failed: ${response.status} ${JSON.stringify(error)}`);
  return data;
}

export async function createAgent(api: ApiClient, body: Partial<AgentCreate> = {}): Promise<Agent> {
  const { data, error, response } = await api.POST('/api/v1/agents', { body: { name: uniqueName('agent'), model: 'gpt-4.1', ...body } });
  if (response.status !== 201 || !data) throw new Error(`creating an agent failed: ${response.status} ${JSON.stringify(error)}`);
  return data;
}

/** Agents whose name or description contains `q`, through the public list. */
export async function agentsMatching(api: ApiClient, q: string, extra: Record<string, string | number> = {}) {
  const { data, response } = await api.GET('/api/v1/agents', { params: { query: { q, pageSize: 100, ...extra } as never } });
  expect(response.status).toBe(200);
  return data!;
}

export const serverUrl = () => inject('serverUrl');

/** Parses `"write";r=119;t=42` and `"write";q=120;w=60`. */
export function parseRateLimit(header: string | null) {
  const m = /^"([a-z]+)";([rq])=(\d+);([tw])=(\d+)$/.exec(header ?? '');
  if (!m) throw new Error(`not a RateLimit header: ${header}`);
  return { category: m[1]!, first: Number(m[3]), second: Number(m[5]) };
}

/** A provider on a public name that does not resolve here: nothing is ever called, and the address rule lets it pass. */
export async function createProvider(api: ApiClient, body: Partial<ModelProviderCreate> = {}): Promise<ModelProvider> {
  const { data, error, response } = await api.POST('/api/v1/model-providers', {
    body: { name: uniqueName('provider'), kind: 'openai-compatible', baseUrl: 'https://llm.example.com/v1', ...body },
  });
  if (response.status !== 201 || !data) throw new Error(`creating a model provider failed: ${response.status} ${JSON.stringify(error)}`);
  return data;
}

export async function createModel(api: ApiClient, body: Partial<ModelCreate> & { providerId: string }): Promise<Model> {
  const { data, error, response } = await api.POST('/api/v1/models', { body: { alias: token(), upstreamModel: 'gpt-4.1-mini', ...body } });
  if (response.status !== 201 || !data) throw new Error(`creating a model alias failed: ${response.status} ${JSON.stringify(error)}`);
  return data;
}
