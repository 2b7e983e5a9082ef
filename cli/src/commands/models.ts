import type { Command } from 'commander';
import type { Model, ModelCreate, ModelProvider, ModelProviderCreate } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { collect, integer, oneOf, readJsonObject, readStdin } from '../input.js';
import { deleteCommand, examples, listOptions, pageQuery, printList, printObject, type ListOptions } from '../lists.js';
import { shortTime, type Column } from '../output.js';

/** A price per million tokens as dollars, for people: 2000000 micro-USD is $2.00. */
const dollars = (micros: number | null | undefined) =>
  micros === null || micros === undefined ? '-' : `$${(micros / 1_000_000).toFixed(micros % 10_000 ? 4 : 2)}`;

const MODEL_COLUMNS: Column<Model>[] = [
  { header: 'ALIAS', value: (m) => m.alias },
  { header: 'API', value: (m) => m.api },
  { header: 'UPSTREAM', value: (m) => m.upstreamModel },
  { header: 'IN $/M', value: (m) => dollars(m.pricing.inputMicrosPerMillionTokens) },
  { header: 'OUT $/M', value: (m) => dollars(m.pricing.outputMicrosPerMillionTokens) },
  { header: 'FALLBACKS', value: (m) => m.fallbacks },
  { header: 'ID', value: (m) => m.id },
];

const PROVIDER_COLUMNS: Column<ModelProvider>[] = [
  { header: 'ID', value: (p) => p.id },
  { header: 'NAME', value: (p) => p.name },
  { header: 'KIND', value: (p) => p.kind },
  { header: 'BASE URL', value: (p) => p.baseUrl },
  { header: 'KEY', value: (p) => (p.credentialLast4 ? `…${p.credentialLast4}` : '-') },
  { header: 'CREATED', value: (p) => shortTime(p.createdAt) },
];

const API = ['chat', 'messages', 'embeddings', 'transcription'] as const;

type ModelFlags = {
  data?: string;
  alias?: string;
  provider?: string;
  upstream?: string;
  api?: Model['api'];
  inputPrice?: number;
  outputPrice?: number;
  fallback?: string[];
  idempotencyKey?: string;
};

export function registerModels(program: Command, ctx: Context) {
  const models = examples(program.command('models').description('Manage model aliases: the names agents and gateway callers use for a model'), [
    'switchboard models list',
    'switchboard models create --alias support-default --provider prov_01jd... --upstream gpt-4.1-mini --input-price 400000 --output-price 1600000',
    'switchboard chat support-default "Hello"',
  ]);

  examples(
    listOptions(
      models
        .command('list')
        .description('List model aliases, newest first')
        .option('--api <api>', `only aliases serving this API (${API.join(', ')})`, oneOf(...API))
        .option('--provider <providerId>', 'only aliases of this provider'),
    ),
    ['switchboard models list', 'switchboard models list --api chat --json'],
  ).action(async (o: ListOptions & { api?: Model['api']; provider?: string }) => {
    const query = { ...pageQuery(o), ...(o.api ? { api: o.api } : {}), ...(o.provider ? { providerId: o.provider } : {}) };
    await printList(ctx, ctx.client().models.list(query), MODEL_COLUMNS, o, 'model aliases');
  });

  examples(models.command('get').description('Show a model alias').argument('<modelId>'), ['switchboard models get model_01jd...']).action(async (id: string) =>
    printObject(ctx, await ctx.client().models.get(id)),
  );

  examples(
    models
      .command('create')
      .description('Create a model alias')
      .option('--alias <alias>', 'the name agents use as their model')
      .option('--provider <providerId>', 'the provider that serves it')
      .option('--upstream <model>', "the provider's own model name")
      .option('--api <api>', `${API.join(', ')} (default: messages for anthropic providers, chat otherwise)`, oneOf(...API))
      .option('--input-price <micros>', 'micro-USD per million input tokens', integer(0, 1_000_000_000_000))
      .option('--output-price <micros>', 'micro-USD per million output tokens', integer(0, 1_000_000_000_000))
      .option('--fallback <alias>', 'an alias tried when this one fails before answering (repeatable, or comma-separated)', collect)
      .option('--data <json>', 'the whole request body: a JSON object, @file, or - for stdin')
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)'),
    ['switchboard models create --alias fast --provider prov_01jd... --upstream gpt-4.1-nano --fallback support-default'],
  ).action(async (o: ModelFlags) => {
    const body: Record<string, unknown> = o.data ? await readJsonObject(o.data, '--data') : {};
    if (o.alias !== undefined) body.alias = o.alias;
    if (o.provider !== undefined) body.providerId = o.provider;
    if (o.upstream !== undefined) body.upstreamModel = o.upstream;
    if (o.api !== undefined) body.api = o.api;
    if (o.fallback !== undefined) body.fallbacks = o.fallback;
    if (o.inputPrice !== undefined || o.outputPrice !== undefined) {
      body.pricing = {
        ...(body.pricing as object | undefined),
        ...(o.inputPrice !== undefined ? { inputMicrosPerMillionTokens: o.inputPrice } : {}),
        ...(o.outputPrice !== undefined ? { outputMicrosPerMillionTokens: o.outputPrice } : {}),
      };
    }
    printObject(ctx, await ctx.client().models.create(body as ModelCreate, { idempotencyKey: o.idempotencyKey }));
  });

  deleteCommand(models, ctx, {
    noun: 'model alias',
    argument: 'modelId',
    example: 'model_01jd...',
    description: 'Delete a model alias (agents that use it fail their next runs)',
    remove: (id, o) => ctx.client().models.delete(id, o),
  });

  const providers = examples(
    program.command('providers').description('Manage model providers: OpenAI, Anthropic or OpenAI-compatible endpoints and their keys'),
    [
      'switchboard providers list',
      'switchboard providers create --name OpenAI --kind openai --credential -',
      'switchboard providers create --name Ollama --kind openai-compatible --api-url http://127.0.0.1:11434/v1',
    ],
  );

  examples(listOptions(providers.command('list').description('List model providers, newest first')), ['switchboard providers list --json']).action(
    async (o: ListOptions) => printList(ctx, ctx.client().modelProviders.list(pageQuery(o)), PROVIDER_COLUMNS, o, 'model providers'),
  );

  examples(providers.command('get').description('Show a model provider (never its credential)').argument('<providerId>'), [
    'switchboard providers get prov_01jd...',
  ]).action(async (id: string) => printObject(ctx, await ctx.client().modelProviders.get(id)));

  examples(
    providers
      .command('create')
      .description('Create a model provider; its credential is sealed and never shown again')
      .option('--name <name>', 'display name')
      .option('--kind <kind>', 'openai, anthropic or openai-compatible', oneOf('openai', 'anthropic', 'openai-compatible'))
      .option('--api-url <url>', "base URL of the provider's API (required for openai-compatible; --base-url is Switchboard's own)")
      .option('--credential <key>', "the provider's API key, or - to read it from stdin (keeps it out of the shell history)")
      .option('--data <json>', 'the whole request body: a JSON object, @file, or - for stdin')
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)'),
    ['switchboard providers create --name OpenAI --kind openai --credential - < openai-key.txt'],
  ).action(async (o: { name?: string; kind?: string; apiUrl?: string; credential?: string; data?: string; idempotencyKey?: string }) => {
    const body: Record<string, unknown> = o.data ? await readJsonObject(o.data, '--data') : {};
    if (o.name !== undefined) body.name = o.name;
    if (o.kind !== undefined) body.kind = o.kind;
    if (o.apiUrl !== undefined) body.baseUrl = o.apiUrl;
    if (o.credential !== undefined) body.credential = o.credential === '-' ? (await readStdin()).trim() : o.credential;
    printObject(ctx, await ctx.client().modelProviders.create(body as ModelProviderCreate, { idempotencyKey: o.idempotencyKey }));
  });

  deleteCommand(providers, ctx, {
    noun: 'model provider',
    argument: 'providerId',
    example: 'prov_01jd...',
    description: 'Delete a model provider (refused while aliases use it)',
    remove: (id, o) => ctx.client().modelProviders.delete(id, o),
  });
}
