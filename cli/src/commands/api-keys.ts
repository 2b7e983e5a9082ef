import type { Command } from 'commander';
import type { ApiKey, ApiKeyCreate, ApiKeyScope } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { collect, integer, oneOf, readJsonObject } from '../input.js';
import { examples, listOptions, pageQuery, printList, printObject, printSecret, type ListOptions } from '../lists.js';
import { shortTime, type Column } from '../output.js';

const COLUMNS: Column<ApiKey>[] = [
  { header: 'ID', value: (k) => k.id },
  { header: 'NAME', value: (k) => k.name },
  { header: 'PREFIX', value: (k) => k.prefix },
  { header: 'SCOPES', value: (k) => k.scopes },
  { header: 'STATUS', value: (k) => k.status, status: true },
  { header: 'LAST USED', value: (k) => shortTime(k.lastUsedAt) },
  { header: 'CREATED', value: (k) => shortTime(k.createdAt) },
];

const SCOPES: ApiKeyScope[] = ['read', 'write', 'admin'];

export function registerApiKeys(program: Command, ctx: Context) {
  const keys = examples(program.command('api-keys').description("Manage the application's API keys (admin scope)"), [
    'switchboard api-keys list',
    'switchboard api-keys create --name ci --scope read --scope write',
    'switchboard api-keys rotate key_01jd4... --grace-period 3600',
  ]);

  examples(
    listOptions(
      keys
        .command('list')
        .description('List API keys, newest first')
        .option('--status <status>', 'only keys with this status: active, expired or revoked', oneOf('active', 'expired', 'revoked'))
        .option('--sort <field>', 'createdAt or name; prefix with - for descending', oneOf('createdAt', '-createdAt', 'name', '-name')),
    ),
    ['switchboard api-keys list', 'switchboard api-keys list --status active --json'],
  ).action(async (o: ListOptions & { status?: ApiKey['status']; sort?: 'createdAt' | '-createdAt' | 'name' | '-name' }) => {
    const query = { ...pageQuery(o), ...(o.status ? { status: o.status } : {}), ...(o.sort ? { sort: o.sort } : {}) };
    await printList(ctx, ctx.client().apiKeys.list(query), COLUMNS, o, 'API keys');
  });

  examples(
    keys
      .command('create')
      .description('Create an API key; its secret is shown once')
      .option('--name <name>', 'display name')
      .option('--scope <scope>', `permission: ${SCOPES.join(', ')} (repeatable, or comma-separated)`, collect)
      .option('--expires-at <time>', 'ISO 8601 time after which the key stops working')
      .option('--data <json>', 'the whole request body: a JSON object, @file, or - for stdin')
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)'),
    [
      'switchboard api-keys create --name ci --scope read,write',
      'switchboard api-keys create --name nightly --scope read --expires-at 2030-01-01T00:00:00Z --json | jq -r .secret',
    ],
  ).action(async (o: { name?: string; scope?: string[]; expiresAt?: string; data?: string; idempotencyKey?: string }) => {
    const body: Record<string, unknown> = o.data ? await readJsonObject(o.data, '--data') : {};
    if (o.name !== undefined) body.name = o.name;
    if (o.scope !== undefined) body.scopes = o.scope;
    if (o.expiresAt !== undefined) body.expiresAt = o.expiresAt;
    printSecret(ctx, await ctx.client().apiKeys.create(body as ApiKeyCreate, { idempotencyKey: o.idempotencyKey }));
  });

  examples(keys.command('get').description('Show an API key (never its secret)').argument('<apiKeyId>'), ['switchboard api-keys get key_01jd4...']).action(
    async (id: string) => printObject(ctx, await ctx.client().apiKeys.get(id)),
  );

  examples(keys.command('revoke').description('Revoke an API key: it stops working at once').argument('<apiKeyId>'), [
    'switchboard api-keys revoke key_01jd4...',
  ]).action(async (id: string) => printObject(ctx, await ctx.client().apiKeys.revoke(id)));

  examples(
    keys
      .command('rotate')
      .description('Give an API key a new secret (shown once); the previous one keeps working for the grace period')
      .argument('<apiKeyId>')
      .option('--grace-period <seconds>', 'how long the previous secret keeps working (0 to 604800)', integer(0, 604_800))
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)'),
    ['switchboard api-keys rotate key_01jd4...', 'switchboard api-keys rotate key_01jd4... --grace-period 0 --json | jq -r .secret'],
  ).action(async (id: string, o: { gracePeriod?: number; idempotencyKey?: string }) => {
    const body = o.gracePeriod !== undefined ? { gracePeriodSeconds: o.gracePeriod } : undefined;
    printSecret(ctx, await ctx.client().apiKeys.rotate(id, body, { idempotencyKey: o.idempotencyKey }));
  });
}
