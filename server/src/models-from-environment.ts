import type { Logger } from 'pino';
import { ConfigError, type AddressPolicy, type EnvironmentProviders } from './config/config.js';
import { isPostgres, type Db } from './db/database.js';
import { ProblemError } from './problems/problems.js';
import { findProviderByName, insertProvider, DEFAULT_BASE_URLS, type ProviderInput } from './resources/model-providers/store.js';
import { DEFAULT_RETRY, UNPRICED, insertModel, modelsByAlias, type ModelApi, type ModelInput, type ModelPricing } from './resources/models/store.js';
import { assertAllowedUrl } from './security/addresses.js';
import type { Sealer } from './security/sealer.js';

/**
 * The first start with OPENAI_API_KEY (and OPENAI_BASE_URL) or ANTHROPIC_API_KEY creates, in the
 * first application, a provider per key and a few aliases, so an agent with `model: "gpt-4.1"`
 * runs without any setup. A provider of that name that exists already (created before, renamed
 * to it, edited since) is left alone, and so is an alias that exists: nothing a user changed is
 * overwritten, and a restart creates nothing twice.
 */

type AliasPlan = Omit<ModelInput, 'providerId'>;
export type ProviderPlan = { provider: ProviderInput; aliases: AliasPlan[] };

type Known = { api: ModelApi; pricing: Partial<ModelPricing>; contextWindow: number | null; maxOutputTokens: number | null };

/** Public list prices in micro-USD per million tokens (per audio minute for whisper-1), and limits, of the models the start creates aliases for. */
const KNOWN_MODELS: Record<string, Known> = {
  'gpt-4.1': {
    api: 'chat',
    pricing: { inputMicrosPerMillionTokens: 2_000_000, outputMicrosPerMillionTokens: 8_000_000, cachedInputMicrosPerMillionTokens: 500_000 },
    contextWindow: 1_047_576,
    maxOutputTokens: 32_768,
  },
  'gpt-4.1-mini': {
    api: 'chat',
    pricing: { inputMicrosPerMillionTokens: 400_000, outputMicrosPerMillionTokens: 1_600_000, cachedInputMicrosPerMillionTokens: 100_000 },
    contextWindow: 1_047_576,
    maxOutputTokens: 32_768,
  },
  'text-embedding-3-small': { api: 'embeddings', pricing: { inputMicrosPerMillionTokens: 20_000 }, contextWindow: 8_191, maxOutputTokens: null },
  'whisper-1': { api: 'transcription', pricing: { microsPerAudioMinute: 6_000 }, contextWindow: null, maxOutputTokens: null },
  'claude-sonnet-4-5': {
    api: 'messages',
    pricing: { inputMicrosPerMillionTokens: 3_000_000, outputMicrosPerMillionTokens: 15_000_000, cachedInputMicrosPerMillionTokens: 300_000 },
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
  },
  'claude-haiku-4-5': {
    api: 'messages',
    pricing: { inputMicrosPerMillionTokens: 1_000_000, outputMicrosPerMillionTokens: 5_000_000, cachedInputMicrosPerMillionTokens: 100_000 },
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
  },
};

/**
 * An alias of `upstreamModel`. List prices hold only on the provider's own endpoint: behind another
 * base URL (a local Ollama, a proxy) the alias is unpriced, and a model this table does not know
 * has no limits either.
 */
function aliasOf(alias: string, upstreamModel: string, api: ModelApi, official: boolean): AliasPlan {
  const known = KNOWN_MODELS[upstreamModel];
  const same = known?.api === api ? known : undefined;
  return {
    alias,
    upstreamModel,
    api,
    pricing: { ...UNPRICED, ...(official ? same?.pricing : {}) },
    contextWindow: same?.contextWindow ?? null,
    maxOutputTokens: same?.maxOutputTokens ?? null,
    fallbacks: [],
    retry: DEFAULT_RETRY,
  };
}

const provider = (name: string, kind: ProviderInput['kind'], baseUrl: string, apiKey: string): ProviderInput => ({
  name,
  kind,
  baseUrl: baseUrl.replace(/\/+$/, ''),
  credential: apiKey,
  headers: {},
  timeoutSeconds: 60,
});

/** A base URL from the environment on an address the policy refuses stops the start, naming the variable and the setting that would allow it. */
async function assertAllowed(variable: string, url: string, policy: AddressPolicy): Promise<void> {
  try {
    await assertAllowedUrl(
      url,
      policy,
      'Set MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES=true (for example for a local Ollama), or list the address in MODEL_PROVIDER_ALLOWED_ADDRESSES, to allow it.',
    );
  } catch (err) {
    if (err instanceof ProblemError) throw new ConfigError(`Invalid configuration:\n  ${variable}: ${err.message}`);
    throw err;
  }
}

/** What the environment asks for, its base URLs checked against the address policy (a ConfigError otherwise). Nothing is written. */
export async function planModelsFromEnvironment(env: EnvironmentProviders, policy: AddressPolicy): Promise<ProviderPlan[]> {
  const plans: ProviderPlan[] = [];
  if (env.openai) {
    const { apiKey, baseUrl } = env.openai;
    if (baseUrl) await assertAllowed('OPENAI_BASE_URL', baseUrl, policy);
    const official = !baseUrl;
    plans.push({
      provider: provider('OpenAI', official ? 'openai' : 'openai-compatible', baseUrl ?? DEFAULT_BASE_URLS.openai!, apiKey),
      aliases: [
        aliasOf('gpt-4.1', 'gpt-4.1', 'chat', official),
        aliasOf('gpt-4.1-mini', 'gpt-4.1-mini', 'chat', official),
        aliasOf('default', env.defaultModel ?? 'gpt-4.1-mini', 'chat', official),
        aliasOf('text-embedding-3-small', 'text-embedding-3-small', 'embeddings', official),
        aliasOf('whisper-1', 'whisper-1', 'transcription', official),
      ],
    });
  }
  if (env.anthropic) {
    plans.push({
      provider: provider('Anthropic', 'anthropic', DEFAULT_BASE_URLS.anthropic!, env.anthropic.apiKey),
      aliases: [
        aliasOf('claude-sonnet', 'claude-sonnet-4-5', 'messages', true),
        aliasOf('claude-haiku', 'claude-haiku-4-5', 'messages', true),
        // Skipped below when the OpenAI provider made `default` (or it exists): one default, OpenAI's first.
        aliasOf('default', env.defaultModel ?? 'claude-haiku-4-5', 'messages', true),
      ],
    });
  }
  return plans;
}

type Created = { applicationId: string; providerId: string; name: string; kind: string; baseUrl: string; aliases: string[] };

/**
 * Creates the planned providers missing from the first application, with their aliases that do
 * not exist yet, in one transaction; replicas starting together take a lock, so one creates and
 * the others find it done. Logs what was created, never the key.
 */
export async function provisionModelsFromEnvironment(db: Db, sealer: Sealer, plans: ProviderPlan[], logger: Logger): Promise<Created[]> {
  if (!plans.length) return [];
  const created = await db.transaction(async (trx) => {
    if (isPostgres(trx)) await trx.raw('LOCK TABLE model_providers IN SHARE ROW EXCLUSIVE MODE');
    const org = await trx('organizations').orderBy('created_at').first<{ id: string } | undefined>('id');
    const app = org && (await trx('applications').where({ organization_id: org.id }).orderBy('created_at').first<{ id: string } | undefined>('id'));
    if (!app) return [];
    const done: Created[] = [];
    for (const plan of plans) {
      if (await findProviderByName(trx, app.id, plan.provider.name)) continue;
      const row = await insertProvider(trx, sealer, app.id, plan.provider);
      const taken = await modelsByAlias(
        trx,
        app.id,
        plan.aliases.map((a) => a.alias),
      );
      const aliases = plan.aliases.filter((a) => !taken.has(a.alias));
      for (const alias of aliases) await insertModel(trx, app.id, { ...alias, providerId: row.id });
      done.push({ applicationId: app.id, providerId: row.id, name: row.name, kind: row.kind, baseUrl: row.base_url, aliases: aliases.map((a) => a.alias) });
    }
    return done;
  });
  for (const c of created) logger.info(c, 'model provider created from the environment');
  return created;
}
