import type { Command } from 'commander';
import type { Run, RunStatus, Schedule, ScheduleCreate, ScheduleUpdate } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { oneOf, readJsonObject } from '../input.js';
import { deleteCommand, examples, listOptions, pageQuery, printList, printObject, transitionCommands, type ListOptions } from '../lists.js';
import { shortTime, type Column } from '../output.js';

const COLUMNS: Column<Schedule>[] = [
  { header: 'ID', value: (s) => s.id },
  { header: 'NAME', value: (s) => s.name },
  { header: 'AGENT', value: (s) => s.agentId },
  { header: 'CRON', value: (s) => s.cron },
  { header: 'TIMEZONE', value: (s) => s.timezone },
  { header: 'STATUS', value: (s) => s.status, status: true },
  { header: 'NEXT RUN', value: (s) => shortTime(s.nextRunAt) },
];

const RUN_COLUMNS: Column<Run>[] = [
  { header: 'ID', value: (r) => r.id },
  { header: 'STATUS', value: (r) => r.status, status: true },
  { header: 'ATTEMPT', value: (r) => r.attempt },
  { header: 'CREATED', value: (r) => shortTime(r.createdAt) },
  { header: 'FINISHED', value: (r) => shortTime(r.finishedAt) },
];

const RUN_STATUSES: RunStatus[] = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'timed_out', 'expired'];

type MissedRunPolicy = Schedule['missedRunPolicy'];
type SortField = 'createdAt' | '-createdAt' | 'name' | '-name' | 'nextRunAt' | '-nextRunAt';

type ScheduleFlags = {
  name?: string;
  agent?: string;
  cron?: string;
  timezone?: string;
  input?: string;
  missedRunPolicy?: MissedRunPolicy;
  paused?: boolean;
  data?: string;
  idempotencyKey?: string;
  ifMatch?: string;
};

/** The fields a schedule is created or updated with; `--data` gives the whole body, flags override its members. */
function scheduleFields(command: Command, create: boolean): Command {
  command.option('--name <name>', 'display name');
  if (create) command.option('--agent <agentId>', 'the agent to start runs of (cannot be changed later)');
  return command
    .option('--cron <expression>', 'when it fires: five cron fields (minute hour day-of-month month day-of-week), or six with seconds first')
    .option('--timezone <zone>', 'IANA time zone the cron expression is evaluated in, e.g. Europe/Berlin (default UTC)')
    .option('--input <json>', 'input of every run it starts: a JSON object, @file, or - for stdin')
    .option('--missed-run-policy <policy>', 'due times missed while no server ran: skip, or runOnce (one run at start-up)', oneOf('skip', 'runOnce'));
}

async function scheduleBody(o: ScheduleFlags): Promise<Record<string, unknown>> {
  const body = o.data ? await readJsonObject(o.data, '--data') : {};
  if (o.name !== undefined) body.name = o.name;
  if (o.agent !== undefined) body.agentId = o.agent;
  if (o.cron !== undefined) body.cron = o.cron;
  if (o.timezone !== undefined) body.timezone = o.timezone;
  if (o.input !== undefined) body.input = await readJsonObject(o.input, '--input');
  if (o.missedRunPolicy !== undefined) body.missedRunPolicy = o.missedRunPolicy;
  if (o.paused) body.status = 'paused';
  return body;
}

export function registerSchedules(program: Command, ctx: Context) {
  const schedules = examples(program.command('schedules').description('Start runs of an agent on a cron schedule'), [
    'switchboard schedules list',
    'switchboard schedules create --name "Daily report" --agent agent_01jd4... --cron "0 9 * * 1-5" --timezone Europe/Berlin',
    'switchboard schedules pause sched_01jd4...',
  ]);

  examples(
    listOptions(
      schedules
        .command('list')
        .description('List schedules, newest first')
        .option('--status <status>', 'only schedules with this status: active or paused', oneOf('active', 'paused'))
        .option('--agent <agentId>', "only this agent's schedules")
        .option(
          '--sort <field>',
          'createdAt, name or nextRunAt; prefix with - for descending',
          oneOf('createdAt', '-createdAt', 'name', '-name', 'nextRunAt', '-nextRunAt'),
        ),
    ),
    [
      'switchboard schedules list',
      'switchboard schedules list --status active --sort nextRunAt',
      'switchboard schedules list --agent agent_01jd4... --all --json',
    ],
  ).action(async (o: ListOptions & { status?: Schedule['status']; agent?: string; sort?: SortField }) => {
    const query = { ...pageQuery(o), ...(o.status ? { status: o.status } : {}), ...(o.agent ? { agentId: o.agent } : {}), ...(o.sort ? { sort: o.sort } : {}) };
    await printList(ctx, ctx.client().schedules.list(query), COLUMNS, o, 'schedules');
  });

  examples(
    scheduleFields(schedules.command('create').description('Create a schedule (active unless --paused)'), true)
      .option('--paused', 'create it paused: it starts no runs until resumed')
      .option('--data <json>', 'the whole request body: a JSON object, @file, or - for stdin')
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)'),
    [
      'switchboard schedules create --name "Daily report" --agent agent_01jd4... --cron "0 9 * * 1-5" --timezone Europe/Berlin',
      'switchboard schedules create --name Nightly --agent agent_01jd4... --cron "30 2 * * *" --input \'{"report": "nightly"}\' --missed-run-policy runOnce',
      'switchboard schedules create --data @schedule.json --paused --json',
    ],
  ).action(async (o: ScheduleFlags) => {
    const body = (await scheduleBody(o)) as ScheduleCreate;
    printObject(ctx, await ctx.client().schedules.create(body, { idempotencyKey: o.idempotencyKey }));
  });

  examples(schedules.command('get').description('Show a schedule').argument('<scheduleId>'), [
    'switchboard schedules get sched_01jd4...',
    'switchboard schedules get sched_01jd4... --json | jq -r .nextRunAt',
  ]).action(async (id: string) => printObject(ctx, await ctx.client().schedules.get(id)));

  examples(
    scheduleFields(
      schedules
        .command('update')
        .description("Change a schedule (a JSON merge patch: --input members are merged into the runs' input)")
        .argument('<scheduleId>'),
      false,
    )
      .option('--data <json>', 'the whole request body: a JSON object, @file, or - for stdin')
      .option('--if-match <etag>', 'only if the schedule still has this ETag'),
    [
      'switchboard schedules update sched_01jd4... --cron "0 8 * * *"',
      'switchboard schedules update sched_01jd4... --timezone America/New_York --missed-run-policy skip',
      'switchboard schedules update sched_01jd4... --input \'{"draft": null}\'          removes the input member "draft"',
    ],
  ).action(async (id: string, o: ScheduleFlags) => {
    const body = (await scheduleBody(o)) as ScheduleUpdate;
    printObject(ctx, await ctx.client().schedules.update(id, body, { ifMatch: o.ifMatch }));
  });

  deleteCommand(schedules, ctx, {
    noun: 'schedule',
    argument: 'scheduleId',
    example: 'sched_01jd4...',
    description: 'Delete a schedule: it starts no more runs (runs it started go on)',
    remove: (id, o) => ctx.client().schedules.delete(id, o),
  });

  transitionCommands(schedules, ctx, {
    argument: 'scheduleId',
    example: 'sched_01jd4...',
    actions: [
      ['pause', 'Pause a schedule: it starts no runs until resumed'],
      ['resume', 'Resume a paused schedule from its next due time'],
    ],
    run: (action, id) => ctx.client().schedules[action](id),
  });

  examples(
    listOptions(
      schedules
        .command('runs')
        .description('List the runs a schedule started, newest first')
        .argument('<scheduleId>')
        .option('--status <status>', `only runs with this status: ${RUN_STATUSES.join(', ')}`, oneOf(...RUN_STATUSES)),
    ),
    ['switchboard schedules runs sched_01jd4...', 'switchboard schedules runs sched_01jd4... --status failed --json'],
  ).action(async (id: string, o: ListOptions & { status?: RunStatus }) => {
    const query = { ...pageQuery(o), ...(o.status ? { status: o.status } : {}) };
    await printList(ctx, ctx.client().schedules.runs(id, query), RUN_COLUMNS, o, 'runs');
  });
}
