import { InvalidArgumentError, type Command } from 'commander';
import { Switchboard } from '@switchboard/sdk';
import type { Trigger, TriggerCreate } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { collect, oneOf, readArgument, readJsonObject } from '../input.js';
import { deleteCommand, examples, listOptions, pageQuery, printList, printObject, printSecret, transitionCommands, type ListOptions } from '../lists.js';
import { shortTime, type Column } from '../output.js';

const COLUMNS: Column<Trigger>[] = [
  { header: 'ID', value: (t) => t.id },
  { header: 'NAME', value: (t) => t.name },
  { header: 'AGENT', value: (t) => t.agentId },
  { header: 'AUTH', value: (t) => t.authentication },
  { header: 'STATUS', value: (t) => t.status, status: true },
  { header: 'CREATED', value: (t) => shortTime(t.createdAt) },
];

/** `field=/json/pointer` pairs into an input mapping. */
const mappingPair = (value: string, previous: Record<string, string> = {}) => {
  const at = value.indexOf('=');
  const pointer = value.slice(at + 1);
  if (at < 1 || (pointer !== '' && !pointer.startsWith('/'))) throw new InvalidArgumentError('must be field=/json/pointer, e.g. question=/message/text');
  return { ...previous, [value.slice(0, at)]: pointer };
};

type TriggerFlags = {
  name?: string;
  agent?: string;
  auth?: 'signature' | 'token';
  map?: Record<string, string>;
  unmap?: string[];
  wholePayload?: boolean;
  data?: string;
  idempotencyKey?: string;
  ifMatch?: string;
};

export function registerTriggers(program: Command, ctx: Context) {
  const triggers = examples(program.command('triggers').description('Inbound URLs that external systems call to start runs of an agent'), [
    'switchboard triggers list',
    'switchboard triggers create --name GitHub --agent agent_01jd4... --auth signature --map question=/issue/title',
    'switchboard triggers invoke trg_01jd4... --secret sbt_... --data \'{"issue": {"title": "Crash on start"}}\'',
  ]);

  examples(
    listOptions(
      triggers
        .command('list')
        .description('List triggers, newest first')
        .option('--status <status>', 'only triggers with this status: active or paused', oneOf('active', 'paused'))
        .option('--agent <agentId>', "only this agent's triggers")
        .option('--sort <field>', 'createdAt or name; prefix with - for descending', oneOf('createdAt', '-createdAt', 'name', '-name')),
    ),
    ['switchboard triggers list', 'switchboard triggers list --agent agent_01jd4... --status active --json'],
  ).action(async (o: ListOptions & { status?: Trigger['status']; agent?: string; sort?: 'createdAt' | '-createdAt' | 'name' | '-name' }) => {
    const query = { ...pageQuery(o), ...(o.status ? { status: o.status } : {}), ...(o.agent ? { agentId: o.agent } : {}), ...(o.sort ? { sort: o.sort } : {}) };
    await printList(ctx, ctx.client().triggers.list(query), COLUMNS, o, 'triggers');
  });

  examples(
    triggers
      .command('create')
      .description('Create a trigger; its secret (whsec_... to sign calls, or sbt_... token) is shown once')
      .option('--name <name>', 'display name')
      .option('--agent <agentId>', 'the agent to start runs of (cannot be changed later)')
      .option(
        '--auth <method>',
        'how callers authenticate: signature (Standard Webhooks, default) or token (cannot be changed later)',
        oneOf('signature', 'token'),
      )
      .option(
        '--map <field=/pointer>',
        'run-input field taken from a JSON Pointer into the payload (repeatable); none: the whole payload is the input',
        mappingPair,
      )
      .option('--data <json>', 'the whole request body: a JSON object, @file, or - for stdin')
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)'),
    [
      'switchboard triggers create --name GitHub --agent agent_01jd4... --map question=/issue/title --map author=/issue/user/login',
      'switchboard triggers create --name Cron-job --agent agent_01jd4... --auth token --json | jq -r .secret',
      'switchboard triggers create --data @trigger.json',
    ],
  ).action(async (o: TriggerFlags) => {
    const body: Record<string, unknown> = o.data ? await readJsonObject(o.data, '--data') : {};
    if (o.name !== undefined) body.name = o.name;
    if (o.agent !== undefined) body.agentId = o.agent;
    if (o.auth !== undefined) body.authentication = o.auth;
    if (o.map !== undefined) body.inputMapping = { ...(body.inputMapping as object | null | undefined), ...o.map };
    printSecret(ctx, await ctx.client().triggers.create(body as TriggerCreate, { idempotencyKey: o.idempotencyKey }));
  });

  examples(triggers.command('get').description('Show a trigger (never its secret)').argument('<triggerId>'), [
    'switchboard triggers get trg_01jd4...',
    'switchboard triggers get trg_01jd4... --json | jq .inputMapping',
  ]).action(async (id: string) => printObject(ctx, await ctx.client().triggers.get(id)));

  examples(
    triggers
      .command('update')
      .description('Change a trigger (a JSON merge patch: --map and --unmap change single fields of the input mapping)')
      .argument('<triggerId>')
      .option('--name <name>', 'display name')
      .option('--map <field=/pointer>', 'add or replace a field of the input mapping (repeatable)', mappingPair)
      .option('--unmap <field>', 'remove a field of the input mapping (repeatable, or comma-separated)', collect)
      .option('--whole-payload', 'drop the input mapping: the whole payload becomes the input')
      .option('--data <json>', 'the whole request body: a JSON object, @file, or - for stdin')
      .option('--if-match <etag>', 'only if the trigger still has this ETag'),
    [
      'switchboard triggers update trg_01jd4... --name "GitHub issues"',
      'switchboard triggers update trg_01jd4... --map labels=/issue/labels --unmap author',
      'switchboard triggers update trg_01jd4... --whole-payload',
    ],
  ).action(async (id: string, o: TriggerFlags) => {
    const body: Record<string, unknown> = o.data ? await readJsonObject(o.data, '--data') : {};
    if (o.name !== undefined) body.name = o.name;
    if (o.wholePayload) {
      if (o.map || o.unmap) throw new UsageError('Give either --whole-payload or --map/--unmap, not both.');
      body.inputMapping = null;
    } else if (o.map || o.unmap) {
      const unmapped = Object.fromEntries((o.unmap ?? []).map((field) => [field, null]));
      body.inputMapping = { ...(body.inputMapping as object | null | undefined), ...unmapped, ...o.map };
    }
    printObject(ctx, await ctx.client().triggers.update(id, body, { ifMatch: o.ifMatch }));
  });

  deleteCommand(triggers, ctx, {
    noun: 'trigger',
    argument: 'triggerId',
    example: 'trg_01jd4...',
    description: 'Delete a trigger: its URL answers 404 from now on',
    remove: (id, o) => ctx.client().triggers.delete(id, o),
  });

  transitionCommands(triggers, ctx, {
    argument: 'triggerId',
    example: 'trg_01jd4...',
    actions: [
      ['pause', 'Pause a trigger: calls are refused (409) until resumed'],
      ['resume', 'Resume a paused trigger'],
    ],
    run: (action, id) => ctx.client().triggers[action](id),
  });

  examples(
    triggers
      .command('rotate-secret')
      .description('Give a trigger a new secret or token (shown once); the previous one stops working at once')
      .argument('<triggerId>')
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)'),
    ['switchboard triggers rotate-secret trg_01jd4...', 'switchboard triggers rotate-secret trg_01jd4... --json | jq -r .secret'],
  ).action(async (id: string, o: { idempotencyKey?: string }) => {
    printSecret(ctx, await ctx.client().triggers.rotateSecret(id, { idempotencyKey: o.idempotencyKey }));
  });

  examples(
    triggers
      .command('invoke')
      .description("Call a trigger as an external system would (with the trigger's secret, no API key needed): a run is queued")
      .argument('<triggerId>')
      .option('--secret <secret>', 'the whsec_... secret (the call is signed) or the sbt_... token; or @file, or - for stdin')
      .option('--data <json>', 'the payload: a JSON object, @file, or - for stdin (default {})')
      .option('--webhook-id <id>', 'message id: a repeated id starts no second run (generated for signed calls otherwise)'),
    [
      'switchboard triggers invoke trg_01jd4... --secret sbt_... --data \'{"issue": {"title": "Crash on start"}}\'',
      'switchboard triggers invoke trg_01jd4... --secret @trigger-secret.txt --data @payload.json --webhook-id delivery-42',
      'switchboard runs follow $(switchboard triggers invoke trg_01jd4... --secret sbt_... --json | jq -r .runId)',
    ],
  ).action(async (id: string, o: { secret?: string; data?: string; webhookId?: string }) => {
    if (!o.secret) throw new UsageError("Give the trigger's secret with --secret <whsec_... or sbt_...>.");
    if (o.secret === '-' && o.data === '-') throw new UsageError('Only one of --secret and --data can be read from stdin.');
    const secret = (await readArgument(o.secret, '--secret')).trim();
    if (!/^(whsec|sbt)_/.test(secret)) throw new UsageError('--secret must be the whsec_... secret or the sbt_... token the trigger was created with.');
    const payload = o.data !== undefined ? await readJsonObject(o.data, '--data') : {};
    // The call authenticates with the trigger's secret alone: no API key is sent, none is needed.
    const sb = new Switchboard({ baseUrl: ctx.settings().baseUrl, apiKey: '' });
    const invocation = await sb.triggers.invoke(id, payload, { secret, ...(o.webhookId ? { webhookId: o.webhookId } : {}) });
    printObject(ctx, invocation);
    if (!ctx.out.json)
      ctx.out.note(
        invocation.duplicate
          ? `This webhook-id was received before: no new run; ${invocation.runId} is the first call's run.`
          : `Run ${invocation.runId} queued: switchboard runs follow ${invocation.runId}`,
      );
  });
}
