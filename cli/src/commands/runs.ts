import type { Command } from 'commander';
import type { Run, RunCreate, RunEvent, RunStatus } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { eventLine, followRun } from '../follow.js';
import { integer, metadataPair, oneOf, readJsonObject } from '../input.js';
import { examples, listOptions, pageQuery, printList, printObject, type ListOptions } from '../lists.js';
import { shortTime, type Column } from '../output.js';

const STATUSES: RunStatus[] = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'timed_out', 'expired'];

const COLUMNS: Column<Run>[] = [
  { header: 'ID', value: (r) => r.id },
  { header: 'AGENT', value: (r) => r.agentId },
  { header: 'STATUS', value: (r) => r.status, status: true },
  { header: 'ATTEMPT', value: (r) => r.attempt },
  { header: 'CREATED', value: (r) => shortTime(r.createdAt) },
  { header: 'FINISHED', value: (r) => shortTime(r.finishedAt) },
];

type CreateFlags = {
  agent?: string;
  input?: string;
  metadata?: Record<string, string>;
  ttl?: number;
  endUser?: string;
  data?: string;
  idempotencyKey?: string;
  follow?: boolean;
};

export function registerRuns(program: Command, ctx: Context) {
  const runs = examples(program.command('runs').description('Start runs of agents, follow them, and inspect their events'), [
    'switchboard runs create --agent agent_01jd4... --input \'{"question": "ping"}\' --follow',
    'switchboard runs list --status failed',
    'switchboard runs follow run_01jd4...',
  ]);

  examples(
    runs
      .command('create')
      .description("Start a run of an agent's current version")
      .option('--agent <agentId>', 'the agent to run')
      .option('--input <json>', 'the input: a JSON object, @file, or - for stdin')
      .option('--metadata <key=value>', 'a metadata entry (repeatable)', metadataPair)
      .option('--ttl <seconds>', 'how long the run may wait in the queue', integer(1, 86_400 * 30))
      .option('--end-user <id>', 'run on behalf of this end-user (Switchboard-User)')
      .option('--data <json>', 'the whole request body: a JSON object, @file, or - for stdin')
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)')
      .option('-f, --follow', 'follow the run to its end (exit code 0 when it succeeds, 1 otherwise)'),
    [
      'switchboard runs create --agent agent_01jd4... --input \'{"question": "ping"}\'',
      'switchboard runs create --agent agent_01jd4... --input @input.json --follow',
      'switchboard runs create --agent agent_01jd4... --metadata ticket=T-42 --ttl 600 --json',
    ],
  ).action(async (o: CreateFlags) => {
    const body: Record<string, unknown> = o.data ? await readJsonObject(o.data, '--data') : {};
    if (o.agent) body.agentId = o.agent;
    if (o.input !== undefined) body.input = await readJsonObject(o.input, '--input');
    if (o.metadata) body.metadata = { ...(body.metadata as object | undefined), ...o.metadata };
    if (o.ttl !== undefined) body.ttlSeconds = o.ttl;
    if (!body.agentId) throw new UsageError('Give the agent to run with --agent <agentId>.');
    const sb = ctx.client();
    const run = await sb.runs.create(body as RunCreate, { idempotencyKey: o.idempotencyKey, endUser: o.endUser });
    const out = ctx.out;
    if (!o.follow) return printObject(ctx, run);
    if (!out.json) out.note(`Run ${run.id} created (${run.status}); following it (Ctrl-C stops following, the run goes on).`);
    process.exitCode = await followRun(sb, run.id, out);
  });

  examples(runs.command('get').description('Show a run').argument('<runId>'), [
    'switchboard runs get run_01jd4...',
    'switchboard runs get run_01jd4... --json | jq .output',
  ]).action(async (runId: string) => printObject(ctx, await ctx.client().runs.get(runId)));

  examples(
    listOptions(
      runs
        .command('list')
        .description('List runs, newest first')
        .option('--agent <agentId>', "only this agent's runs")
        .option('--status <status>', `only runs with this status: ${STATUSES.join(', ')}`, oneOf(...STATUSES))
        .option('--end-user <id>', "only this end-user's runs")
        .option('--sort <order>', 'createdAt (oldest first) or -createdAt (newest first)', oneOf('createdAt', '-createdAt'))
        .option('--created-after <time>', 'only runs created at or after this ISO 8601 time')
        .option('--created-before <time>', 'only runs created before this ISO 8601 time'),
    ),
    ['switchboard runs list', 'switchboard runs list --agent agent_01jd4... --status failed', 'switchboard runs list --all --json'],
  ).action(
    async (
      o: ListOptions & {
        agent?: string;
        status?: RunStatus;
        endUser?: string;
        sort?: 'createdAt' | '-createdAt';
        createdAfter?: string;
        createdBefore?: string;
      },
    ) => {
      const query = {
        ...pageQuery(o),
        ...(o.agent ? { agentId: o.agent } : {}),
        ...(o.status ? { status: o.status } : {}),
        ...(o.endUser ? { endUserId: o.endUser } : {}),
        ...(o.sort ? { sort: o.sort } : {}),
        ...(o.createdAfter ? { createdAfter: o.createdAfter } : {}),
        ...(o.createdBefore ? { createdBefore: o.createdBefore } : {}),
      };
      await printList(ctx, ctx.client().runs.list(query), COLUMNS, o, 'runs');
    },
  );

  examples(runs.command('cancel').description('Cancel a queued, running or waiting run').argument('<runId>'), ['switchboard runs cancel run_01jd4...']).action(
    async (runId: string) => printObject(ctx, await ctx.client().runs.cancel(runId)),
  );

  examples(
    runs
      .command('events')
      .description("Show a run's stored events, oldest first (one page; --all for every one)")
      .argument('<runId>')
      .option('--after <seq>', 'only events after this seq', integer(0, Number.MAX_SAFE_INTEGER))
      .option('--limit <n>', 'events per page', integer(1, 1000))
      .option('--all', 'every page (with --json: one array)'),
    ['switchboard runs events run_01jd4...', 'switchboard runs events run_01jd4... --all --json | jq -c ".[] | {seq, type}"'],
  ).action(async (runId: string, o: { after?: number; limit?: number; all?: boolean }) => {
    const sb = ctx.client();
    const out = ctx.out;
    const query = { ...(o.after !== undefined ? { after: o.after } : {}), ...(o.limit !== undefined ? { limit: o.limit } : {}) };
    let page = await sb.runs.events(runId, query);
    if (!o.all) {
      if (out.json) return out.data({ data: page.data, hasMore: page.hasMore, nextAfter: page.nextAfter });
      for (const event of page.data) out.print(eventLine(out, event));
      if (page.hasMore) out.note(out.dim(`More events follow: --after ${page.nextAfter}, or --all.`));
      return;
    }
    const events: RunEvent[] = [...page.data];
    while (page.hasMore && page.nextAfter !== null) {
      page = await sb.runs.events(runId, { ...query, after: page.nextAfter });
      events.push(...page.data);
    }
    if (out.json) out.data(events);
    else for (const event of events) out.print(eventLine(out, event));
  });

  examples(
    runs
      .command('follow')
      .description('Follow a run: its events live (history first) until it ends, then its status and output; exit code 0 when it succeeded, 1 otherwise')
      .argument('<runId>'),
    ['switchboard runs follow run_01jd4...', 'switchboard runs follow run_01jd4... --json > result.json'],
  ).action(async (runId: string) => {
    process.exitCode = await followRun(ctx.client(), runId, ctx.out);
  });
}
