import type { components } from '../../generated/openapi.js';
import { isUniqueViolation, type Executor } from '../../db/database.js';
import { columnsOf, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { queryRows } from '../../db/statements.js';
import { ProblemError } from '../../problems/problems.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';
import type { ProviderRow } from '../model-providers/store.js';

export type Model = components['schemas']['Model'];
export type ModelApi = components['schemas']['ModelApi'];
export type ModelPricing = Required<components['schemas']['ModelPricing']>;
export type ModelRetry = Required<components['schemas']['ModelRetry']>;

export type ModelRow = {
  id: string;
  application_id: string;
  alias: string;
  provider_id: string;
  upstream_model: string;
  api: ModelApi;
  pricing: string;
  context_window: number | null;
  max_output_tokens: number | null;
  fallbacks: string;
  retry: string;
  created_at: string;
  updated_at: string;
};

export const UNPRICED: ModelPricing = {
  inputMicrosPerMillionTokens: null,
  outputMicrosPerMillionTokens: null,
  cachedInputMicrosPerMillionTokens: null,
  microsPerAudioMinute: null,
};

export const DEFAULT_RETRY: ModelRetry = { attempts: 2, onStatus: [429, 500, 502, 503, 504], backoffMs: 500 };

export const pricingOf = (row: Pick<ModelRow, 'pricing'>): ModelPricing => ({ ...UNPRICED, ...fromJsonColumn<Partial<ModelPricing>>(row.pricing, {}) });
export const retryOf = (row: Pick<ModelRow, 'retry'>): ModelRetry => ({ ...DEFAULT_RETRY, ...fromJsonColumn<Partial<ModelRetry>>(row.retry, {}) });
export const fallbacksOf = (row: Pick<ModelRow, 'fallbacks'>): string[] => fromJsonColumn(row.fallbacks, []);

export const toModel = (row: ModelRow): Model => ({
  id: row.id,
  object: 'model',
  alias: row.alias,
  providerId: row.provider_id,
  upstreamModel: row.upstream_model,
  api: row.api,
  pricing: pricingOf(row),
  contextWindow: row.context_window,
  maxOutputTokens: row.max_output_tokens,
  fallbacks: fallbacksOf(row),
  retry: retryOf(row),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export type ModelInput = {
  alias: string;
  providerId: string;
  upstreamModel: string;
  api: ModelApi;
  pricing: ModelPricing;
  contextWindow: number | null;
  maxOutputTokens: number | null;
  fallbacks: string[];
  retry: ModelRetry;
};

const columns = (input: ModelInput) => ({
  alias: input.alias,
  provider_id: input.providerId,
  upstream_model: input.upstreamModel,
  api: input.api,
  pricing: toJsonColumn(input.pricing),
  context_window: input.contextWindow,
  max_output_tokens: input.maxOutputTokens,
  fallbacks: toJsonColumn(input.fallbacks),
  retry: toJsonColumn(input.retry),
});

/** Runs a write that may hit the unique alias; the savepoint keeps the caller's transaction usable. */
async function uniquely(db: Executor, alias: string, write: (sp: Executor) => Promise<unknown>): Promise<void> {
  try {
    await db.transaction(write);
  } catch (err) {
    if (isUniqueViolation(err)) throw new ProblemError('conflict', `The application already has a model alias "${alias}".`);
    throw err;
  }
}

export async function insertModel(db: Executor, applicationId: string, input: ModelInput): Promise<ModelRow> {
  const now = nowIso();
  const row: ModelRow = { id: newId('model'), application_id: applicationId, ...columns(input), created_at: now, updated_at: now };
  await uniquely(db, input.alias, (sp) => sp('models').insert(row));
  return row;
}

export async function updateModel(db: Executor, id: string, input: ModelInput): Promise<void> {
  await uniquely(db, input.alias, (sp) =>
    sp('models')
      .where({ id })
      .update({ ...columns(input), updated_at: nowIso() }),
  );
}

export const getModelRow = (db: Executor, where: { id: string; application_id?: string }, options: ReadOptions = {}) =>
  getRow<ModelRow>(db, 'models', where, 'model alias', options);

export function listModels(db: Executor, applicationId: string, filters: PageQuery & { api?: ModelApi; providerId?: string; alias?: string }) {
  const query = db('models').where({ application_id: applicationId });
  if (filters.api) query.where({ api: filters.api });
  if (filters.providerId) query.where({ provider_id: filters.providerId });
  if (filters.alias) query.where({ alias: filters.alias });
  return listPage(query, filters, { createdAt: 'created_at', alias: { text: 'alias' } }, toModel);
}

export async function deleteModel(db: Executor, id: string): Promise<void> {
  await db('models').where({ id }).delete();
}

/** The API of the application's alias `alias`; null when the agent's model is no alias (`echo`, or one not created yet). */
export async function apiOfAlias(db: Executor, applicationId: string, alias: string): Promise<ModelApi | null> {
  const row = await db('models').where({ application_id: applicationId, alias }).first<{ api: ModelApi } | undefined>('api');
  return row?.api ?? null;
}

/**
 * The application's aliases among `aliases`, by alias; `forShare` locks them against a concurrent
 * delete or rename, which then waits and finds them named as fallbacks (409).
 */
export async function modelsByAlias(
  db: Executor,
  applicationId: string,
  aliases: string[],
  options: { forShare?: boolean } = {},
): Promise<Map<string, ModelRow>> {
  if (aliases.length === 0) return new Map();
  const query = db('models').where({ application_id: applicationId }).whereIn('alias', aliases);
  const rows = (await (options.forShare ? query.forShare() : query)) as ModelRow[];
  return new Map(rows.map((r) => [r.alias, r]));
}

/** Aliases of the application that name `alias` as a fallback. */
export async function aliasesFallingBackTo(db: Executor, applicationId: string, alias: string): Promise<string[]> {
  const rows = await db('models').where({ application_id: applicationId }).select<Pick<ModelRow, 'alias' | 'fallbacks'>[]>('alias', 'fallbacks');
  return rows.filter((r) => fallbacksOf(r).includes(alias)).map((r) => r.alias);
}

export async function aliasesUsingProvider(db: Executor, providerId: string): Promise<string[]> {
  const rows = await db('models').where({ provider_id: providerId }).orderBy('alias').select<{ alias: string }[]>('alias');
  return rows.map((r) => r.alias);
}

/** A model alias with its provider: what a gateway call resolves before it goes upstream. */
export type ResolvedModel = { model: ModelRow; provider: ProviderRow };

/**
 * The alias and, in order, its fallbacks that exist, each with its provider; an unknown alias
 * resolves to an empty list. Fallbacks deleted since they were named are skipped.
 */
export async function resolveAlias(db: Executor, applicationId: string, alias: string): Promise<ResolvedModel[]> {
  const [primary] = await withProviders(db, applicationId, [alias]);
  if (!primary) return [];
  const named = fallbacksOf(primary.model).filter((a) => a !== alias);
  if (!named.length) return [primary];
  const fallbacks = new Map((await withProviders(db, applicationId, named)).map((r) => [r.model.alias, r]));
  return [primary, ...named.flatMap((a) => fallbacks.get(a) ?? [])];
}

/** Every column of a provider's row: one added to `ProviderRow` and not here does not compile. */
const PROVIDER_COLUMNS = columnsOf<ProviderRow>({
  id: true,
  application_id: true,
  name: true,
  kind: true,
  base_url: true,
  credential_sealed: true,
  credential_last4: true,
  headers: true,
  timeout_seconds: true,
  created_at: true,
  updated_at: true,
});

/**
 * The application's models of these aliases, each with its provider, in one statement: every
 * gateway call reads them, on SQLite from the read connection's kept statements.
 */
async function withProviders(db: Executor, applicationId: string, aliases: string[]): Promise<ResolvedModel[]> {
  const rows = await queryRows<Record<string, unknown>>(
    db('models')
      .join('model_providers', 'model_providers.id', 'models.provider_id')
      .where('models.application_id', applicationId)
      .where('model_providers.application_id', applicationId)
      .whereIn('models.alias', aliases)
      .select('models.*', ...PROVIDER_COLUMNS.map((c) => `model_providers.${c} as p__${c}`)),
  );
  return rows.map((row) => {
    const model = {} as Record<string, unknown>;
    const provider = {} as Record<string, unknown>;
    for (const [column, value] of Object.entries(row)) {
      // The provider's columns come prefixed, apart from the model's own (both have an id).
      if (column.startsWith('p__')) provider[column.slice('p__'.length)] = value;
      else model[column] = value;
    }
    return { model: model as ModelRow, provider: provider as ProviderRow };
  });
}

/** At most this many aliases are listed to a gateway caller (OpenAI's model list has no pages). */
const GATEWAY_LIST_LIMIT = 10_000;

/** The application's aliases serving one of `apis`, oldest first, each with its provider's name: the gateway's model list. */
export async function aliasesServing(
  db: Executor,
  applicationId: string,
  apis: ModelApi[],
): Promise<{ alias: string; created_at: string; provider_name: string }[]> {
  return db('models')
    .join('model_providers', 'model_providers.id', 'models.provider_id')
    .where('models.application_id', applicationId)
    .whereIn('models.api', apis)
    .orderBy([{ column: 'models.created_at' }, { column: 'models.id' }])
    .limit(GATEWAY_LIST_LIMIT)
    .select<{ alias: string; created_at: string; provider_name: string }[]>('models.alias', 'models.created_at', 'model_providers.name as provider_name');
}
