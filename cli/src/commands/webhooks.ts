import type { Command } from 'commander';
import type { WebhookAttempt, WebhookEndpoint, WebhookEndpointCreate, WebhookEventType, WebhookMessage } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { collect, integer, oneOf, readJsonObject } from '../input.js';
import { deleteCommand, examples, listOptions, pageQuery, printList, printObject, printSecret, type ListOptions } from '../lists.js';
import { shortTime, type Column } from '../output.js';

const COLUMNS: Column<WebhookEndpoint>[] = [
  { header: 'ID', value: (e) => e.id },
  { header: 'URL', value: (e) => e.url },
  // An empty filter takes every event type.
  { header: 'EVENTS', value: (e) => (e.eventTypes.length ? e.eventTypes : 'all') },
  { header: 'ENABLED', value: (e) => (e.enabled ? 'yes' : `no (${e.disabledReason ?? 'manual'})`) },
  { header: 'CREATED', value: (e) => shortTime(e.createdAt) },
];

const MESSAGE_COLUMNS: Column<WebhookMessage>[] = [
  { header: 'ID', value: (m) => m.id },
  { header: 'EVENT', value: (m) => m.eventType },
  { header: 'STATUS', value: (m) => m.status, status: true },
  { header: 'ATTEMPTS', value: (m) => m.attempts },
  { header: 'LAST STATUS', value: (m) => m.lastStatusCode ?? m.lastError },
  { header: 'NEXT ATTEMPT', value: (m) => shortTime(m.nextAttemptAt) },
];

const ATTEMPT_COLUMNS: Column<WebhookAttempt>[] = [
  { header: 'ATTEMPT', value: (a) => a.attempt },
  { header: 'STATUS', value: (a) => a.statusCode },
  { header: 'DURATION', value: (a) => `${a.durationMs} ms` },
  { header: 'ERROR', value: (a) => a.error },
  { header: 'AT', value: (a) => shortTime(a.createdAt) },
];

const WRITE_OPTION = ['--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)'] as const;

type EndpointFlags = {
  url?: string;
  event?: string[];
  description?: string;
  enable?: boolean;
  disable?: boolean;
  disabled?: boolean;
  data?: string;
  idempotencyKey?: string;
  ifMatch?: string;
};

export function registerWebhooks(program: Command, ctx: Context) {
  const webhooks = examples(program.command('webhooks').description('Endpoints Switchboard sends its events to (Standard Webhooks), and their deliveries'), [
    'switchboard webhooks create --url https://example.com/webhooks/switchboard --event "run.*"',
    'switchboard webhooks messages whep_01jd4... --status failed',
    'switchboard webhooks redeliver whmsg_01jd4...',
  ]);

  examples(
    listOptions(
      webhooks
        .command('list')
        .description('List webhook endpoints, newest first')
        .option('--enabled', 'only enabled endpoints')
        .option('--disabled', 'only disabled endpoints')
        .option('--sort <order>', 'createdAt (oldest first) or -createdAt (newest first)', oneOf('createdAt', '-createdAt')),
    ),
    ['switchboard webhooks list', 'switchboard webhooks list --disabled --json'],
  ).action(async (o: ListOptions & { enabled?: boolean; disabled?: boolean; sort?: 'createdAt' | '-createdAt' }) => {
    if (o.enabled && o.disabled) throw new UsageError('Give either --enabled or --disabled, not both.');
    const query = { ...pageQuery(o), ...(o.enabled || o.disabled ? { enabled: Boolean(o.enabled) } : {}), ...(o.sort ? { sort: o.sort } : {}) };
    await printList(ctx, ctx.client().webhookEndpoints.list(query), COLUMNS, o, 'webhook endpoints');
  });

  examples(
    webhooks
      .command('create')
      .description('Create a webhook endpoint; its whsec_ signing secret is shown once')
      .option('--url <url>', 'absolute http or https URL each event is POSTed to')
      .option('--event <type>', 'event type (run.succeeded) or family (run.*) to receive (repeatable, or comma-separated; none: every event)', collect)
      .option('--description <text>', 'what the endpoint is for')
      .option('--disabled', 'create it disabled: nothing is sent until it is enabled')
      .option('--data <json>', 'the whole request body: a JSON object, @file, or - for stdin')
      .option(...WRITE_OPTION),
    [
      'switchboard webhooks create --url https://example.com/webhooks/switchboard --event "run.*"',
      'switchboard webhooks create --url https://example.com/hooks --event run.succeeded,run.failed --description "Billing" --json | jq -r .secret',
      'switchboard webhooks create --url https://example.com/hooks --disabled',
    ],
  ).action(async (o: EndpointFlags) => {
    const body: Record<string, unknown> = o.data ? await readJsonObject(o.data, '--data') : {};
    if (o.url !== undefined) body.url = o.url;
    if (o.event !== undefined) body.eventTypes = o.event;
    if (o.description !== undefined) body.description = o.description;
    if (o.disabled) body.enabled = false;
    printSecret(ctx, await ctx.client().webhookEndpoints.create(body as WebhookEndpointCreate, { idempotencyKey: o.idempotencyKey }));
  });

  examples(webhooks.command('get').description('Show a webhook endpoint (never its secret)').argument('<endpointId>'), [
    'switchboard webhooks get whep_01jd4...',
  ]).action(async (id: string) => printObject(ctx, await ctx.client().webhookEndpoints.get(id)));

  examples(
    webhooks
      .command('update')
      .description('Change a webhook endpoint; --event replaces the whole event filter')
      .argument('<endpointId>')
      .option('--url <url>', 'new URL; messages not yet delivered go to it from their next attempt')
      .option('--event <type>', 'the new event filter (repeatable, or comma-separated); --event "" for every event', collect)
      .option('--description <text>', 'what the endpoint is for ("" clears it)')
      .option('--enable', 'enable it again, whatever the reason it was disabled')
      .option('--disable', 'disable it: nothing is sent until it is enabled')
      .option('--data <json>', 'the whole request body: a JSON object, @file, or - for stdin')
      .option('--if-match <etag>', 'only if the endpoint still has this ETag'),
    [
      'switchboard webhooks update whep_01jd4... --event "run.*,agent.*"',
      'switchboard webhooks update whep_01jd4... --url https://example.com/v2/hooks --enable',
      'switchboard webhooks update whep_01jd4... --disable',
    ],
  ).action(async (id: string, o: EndpointFlags) => {
    if (o.enable && o.disable) throw new UsageError('Give either --enable or --disable, not both.');
    const body: Record<string, unknown> = o.data ? await readJsonObject(o.data, '--data') : {};
    if (o.url !== undefined) body.url = o.url;
    if (o.event !== undefined) body.eventTypes = o.event;
    if (o.description !== undefined) body.description = o.description === '' ? null : o.description;
    if (o.enable) body.enabled = true;
    if (o.disable) body.enabled = false;
    printObject(ctx, await ctx.client().webhookEndpoints.update(id, body, { ifMatch: o.ifMatch }));
  });

  deleteCommand(webhooks, ctx, {
    noun: 'webhook endpoint',
    argument: 'endpointId',
    example: 'whep_01jd4...',
    description: 'Delete a webhook endpoint: nothing more is sent to it',
    remove: (id, o) => ctx.client().webhookEndpoints.delete(id, o),
  });

  examples(
    webhooks
      .command('rotate-secret')
      .description('Give an endpoint a new signing secret (shown once); deliveries are also signed with the previous one for the grace period')
      .argument('<endpointId>')
      .option('--grace-period <seconds>', 'how long deliveries are also signed with the previous secret (0 to 604800; default a day)', integer(0, 604_800))
      .option(...WRITE_OPTION),
    ['switchboard webhooks rotate-secret whep_01jd4...', 'switchboard webhooks rotate-secret whep_01jd4... --grace-period 0 --json | jq -r .secret'],
  ).action(async (id: string, o: { gracePeriod?: number; idempotencyKey?: string }) => {
    const body = o.gracePeriod !== undefined ? { gracePeriodSeconds: o.gracePeriod } : undefined;
    printSecret(ctx, await ctx.client().webhookEndpoints.rotateSecret(id, body, { idempotencyKey: o.idempotencyKey }));
  });

  examples(
    webhooks
      .command('test')
      .description('Send a webhook_endpoint.ping to this endpoint alone; prints the message queued')
      .argument('<endpointId>')
      .option(...WRITE_OPTION),
    ['switchboard webhooks test whep_01jd4...', 'switchboard webhooks attempts $(switchboard webhooks test whep_01jd4... --json | jq -r .id)'],
  ).action(async (id: string, o: { idempotencyKey?: string }) =>
    printObject(ctx, await ctx.client().webhookEndpoints.test(id, { idempotencyKey: o.idempotencyKey })),
  );

  examples(
    listOptions(
      webhooks
        .command('messages')
        .description('List the messages (events) sent to an endpoint, newest first')
        .argument('<endpointId>')
        .option('--status <status>', 'only messages with this delivery status: pending, succeeded or failed', oneOf('pending', 'succeeded', 'failed'))
        .option('--event-type <type>', 'only messages of this event type, e.g. run.failed')
        .option('--sort <order>', 'createdAt (oldest first) or -createdAt (newest first)', oneOf('createdAt', '-createdAt')),
    ),
    [
      'switchboard webhooks messages whep_01jd4...',
      'switchboard webhooks messages whep_01jd4... --status failed --event-type run.succeeded',
      'switchboard webhooks messages whep_01jd4... --all --json | jq ".[].payload"',
    ],
  ).action(async (id: string, o: ListOptions & { status?: WebhookMessage['status']; eventType?: string; sort?: 'createdAt' | '-createdAt' }) => {
    const query = {
      ...pageQuery(o),
      ...(o.status ? { status: o.status } : {}),
      ...(o.eventType ? { eventType: o.eventType as WebhookEventType } : {}),
      ...(o.sort ? { sort: o.sort } : {}),
    };
    await printList(ctx, ctx.client().webhookEndpoints.messages(id, query), MESSAGE_COLUMNS, o, 'messages');
  });

  examples(
    listOptions(
      webhooks
        .command('attempts')
        .description("List a message's delivery attempts, newest first")
        .argument('<messageId>')
        .option('--sort <order>', 'createdAt (oldest first) or -createdAt (newest first)', oneOf('createdAt', '-createdAt')),
    ),
    ['switchboard webhooks attempts whmsg_01jd4...', 'switchboard webhooks attempts whmsg_01jd4... --json | jq ".data[0].responseBody"'],
  ).action(async (id: string, o: ListOptions & { sort?: 'createdAt' | '-createdAt' }) => {
    const query = { ...pageQuery(o), ...(o.sort ? { sort: o.sort } : {}) };
    await printList(ctx, ctx.client().webhookMessages.attempts(id, query), ATTEMPT_COLUMNS, o, 'attempts');
  });

  examples(
    webhooks
      .command('redeliver')
      .description('Send a message again now, with the same webhook-id and a fresh retry schedule')
      .argument('<messageId>')
      .option(...WRITE_OPTION),
    [
      'switchboard webhooks redeliver whmsg_01jd4...',
      'switchboard webhooks messages whep_01jd4... --status failed --all --json | jq -r ".[].id" | xargs -n1 switchboard webhooks redeliver',
    ],
  ).action(async (id: string, o: { idempotencyKey?: string }) =>
    printObject(ctx, await ctx.client().webhookMessages.redeliver(id, { idempotencyKey: o.idempotencyKey })),
  );
}
