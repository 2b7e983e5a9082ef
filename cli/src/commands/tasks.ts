import { InvalidArgumentError, type Command } from 'commander';
import type { ListTasksData, Task, TaskAssignee, TaskComment, TaskCreate, TaskPriority, TaskStatus } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { collect, metadataPair, oneOf, readArgument, readJsonObject } from '../input.js';
import { examples, listOptions, pageQuery, printList, printObject, type ListOptions } from '../lists.js';
import type { Column } from '../output.js';

const STATUSES: TaskStatus[] = ['backlog', 'todo', 'in_progress', 'in_review', 'done', 'blocked', 'cancelled'];
const PRIORITIES: TaskPriority[] = ['urgent', 'high', 'medium', 'low'];
type SortOrder = NonNullable<NonNullable<ListTasksData['query']>['sort']>;
const SORTS: SortOrder[] = ['createdAt', '-createdAt', 'updatedAt', '-updatedAt', 'number', '-number', 'priority', '-priority', 'dueAt', '-dueAt'];

/** The moves a task may make (the table of the API's TaskStatus), for `tasks move --help`. */
const MOVES = `
Moves allowed:
  backlog      -> todo, cancelled
  todo         -> in_progress, blocked, backlog, cancelled
  in_progress  -> in_review, blocked, done, todo, cancelled
  in_review    -> in_progress, done, todo, cancelled
  blocked      -> todo, in_progress, cancelled
  done         -> todo (reopen)
  cancelled    -> backlog (restore)
A task cannot start (in_progress) while one of its blockers is neither done nor cancelled.`;

const shortened = (s: string, max = 60) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

const COLUMNS: Column<Task>[] = [
  { header: '#', value: (t) => t.number },
  { header: 'ID', value: (t) => t.id },
  { header: 'STATUS', value: (t) => t.status, status: true },
  { header: 'PRIORITY', value: (t) => t.priority },
  { header: 'TITLE', value: (t) => shortened(t.title) },
  { header: 'ASSIGNEE', value: (t) => t.assignee?.id },
];

const COMMENT_COLUMNS: Column<TaskComment>[] = [
  { header: 'CREATED', value: (c) => c.createdAt },
  { header: 'AUTHOR', value: (c) => c.author.id },
  { header: 'COMMENT', value: (c) => shortened(c.body.replace(/\s+/g, ' '), 80) },
  { header: 'STARTED RUNS', value: (c) => c.startedRunIds.join(' ') },
];

/** `agent_...`, `user_...` or `none` as an assignee: its type follows the id's prefix; `none` is nobody (null). */
const assigneeOf = (value: string): TaskAssignee | null => {
  if (value === 'none') return null;
  if (value.startsWith('agent_')) return { type: 'agent', id: value };
  if (value.startsWith('user_')) return { type: 'user', id: value };
  throw new InvalidArgumentError('must be an agent (agent_...), a person (user_...) or none');
};

/** `--status todo,in_progress` (or repeated): statuses, each checked. */
const statusList = (value: string, previous?: TaskStatus[]): TaskStatus[] => collect(value, previous).map((s) => oneOf(...STATUSES)(s));

type ListFlags = ListOptions & {
  status?: TaskStatus[];
  priority?: TaskPriority;
  assignee?: string;
  label?: string;
  parent?: string;
  blockedBy?: string;
  dueBefore?: string;
  query?: string;
  sort?: SortOrder;
};

type CreateFlags = {
  description?: string;
  status?: 'backlog' | 'todo';
  priority?: TaskPriority;
  label?: string[];
  assignee?: TaskAssignee | null;
  parent?: string;
  blockedBy?: string[];
  due?: string;
  metadata?: Record<string, string>;
  data?: string;
  idempotencyKey?: string;
};

export function registerTasks(program: Command, ctx: Context) {
  const tasks = examples(
    program.command('tasks').description('Plan work for agents and people: tasks with a status, a priority, labels, an assignee and blockers'),
    [
      'switchboard tasks create "Refund order 10-2291" --priority high --label billing --assignee agent_01jd4...',
      'switchboard tasks list --status todo,in_progress --assignee agent_01jd4...',
      'switchboard tasks move task_01jd4... in_progress',
      'switchboard tasks assign task_01jd4... user_01jd4...',
    ],
  );

  examples(
    listOptions(
      tasks
        .command('list')
        .description('List tasks, newest first, narrowed by any of the filters (all of them must hold)')
        .option('--status <statuses>', `only tasks in one of these statuses, comma-separated or repeated: ${STATUSES.join(', ')}`, statusList)
        .option('--priority <priority>', `only tasks with this priority: ${PRIORITIES.join(', ')}`, oneOf(...PRIORITIES))
        .option('--assignee <id>', 'only tasks assigned to this agent (agent_...) or person (user_...); none for the unassigned ones', (v: string) => {
          assigneeOf(v);
          return v;
        })
        .option('--label <label>', 'only tasks with this label')
        .option('--parent <taskId>', 'only the sub-tasks of this task; none for the top-level tasks')
        .option('--blocked-by <taskId>', 'only the tasks this task blocks')
        .option('--due-before <time>', 'only tasks due before this ISO 8601 time')
        .option('-q, --query <words>', 'only tasks whose title or description has every one of these words (or words starting with them)')
        .option('--sort <order>', 'createdAt, updatedAt, number, priority (most urgent first) or dueAt; prefix with - for descending', oneOf(...SORTS)),
    ),
    [
      'switchboard tasks list',
      'switchboard tasks list --status todo,in_progress --priority urgent',
      'switchboard tasks list --assignee none --label billing --sort priority',
      'switchboard tasks list -q "refund damaged" --json',
      'switchboard tasks list --parent task_01jd4... --all --json | jq -r ".[].id"',
    ],
  ).action(async (o: ListFlags) => {
    const query = {
      ...pageQuery(o),
      ...(o.status?.length ? { status: [...new Set(o.status)].join(',') } : {}),
      ...(o.priority ? { priority: o.priority } : {}),
      ...(o.assignee ? { assignee: o.assignee } : {}),
      ...(o.label ? { label: o.label } : {}),
      ...(o.parent ? { parentId: o.parent } : {}),
      ...(o.blockedBy ? { blockedBy: o.blockedBy } : {}),
      ...(o.dueBefore ? { dueBefore: o.dueBefore } : {}),
      ...(o.query ? { q: o.query } : {}),
      ...(o.sort ? { sort: o.sort } : {}),
    };
    await printList(ctx, ctx.client().tasks.list(query), COLUMNS, o, 'tasks');
  });

  examples(
    tasks
      .command('create')
      .description("Create a task, in backlog (or todo), numbered after the application's last one")
      .argument('<title>', 'what is to be done, in one line')
      .option('--description <text>', 'the details, in Markdown: the text, @file, or - for stdin')
      .option('--status <status>', 'the first status: backlog (the default) or todo', oneOf('backlog', 'todo'))
      .option('--priority <priority>', `${PRIORITIES.join(', ')} (default medium)`, oneOf(...PRIORITIES))
      .option('--label <label>', 'a label (repeatable, or comma-separated)', collect)
      .option('--assignee <id>', 'who does it: an agent (agent_...) or a person (user_...)', assigneeOf)
      .option('--parent <taskId>', 'the task this one is a sub-task of')
      .option('--blocked-by <taskId>', 'a task that must be done or cancelled before this one starts (repeatable, or comma-separated)', collect)
      .option('--due <time>', 'when it is due: an ISO 8601 time, e.g. 2026-03-31T17:00:00Z')
      .option('--metadata <key=value>', 'a metadata entry (repeatable)', metadataPair)
      .option('--data <json>', 'the whole request body: a JSON object, @file, or - for stdin (the flags override its members)')
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)'),
    [
      'switchboard tasks create "Refund order 10-2291"',
      'switchboard tasks create "Refund order 10-2291" --status todo --priority high --label billing --label refunds --assignee agent_01jd4...',
      'switchboard tasks create "Check the carrier claim" --parent task_01jd4... --blocked-by task_01jd5... --due 2026-03-31T17:00:00Z',
      'switchboard tasks create "Write the report" --description @report.md --metadata ticket=T-42 --json',
    ],
  ).action(async (title: string, o: CreateFlags) => {
    const body: Record<string, unknown> = o.data ? await readJsonObject(o.data, '--data') : {};
    body.title = title;
    if (o.description !== undefined) body.description = await readArgument(o.description, '--description');
    if (o.status !== undefined) body.status = o.status;
    if (o.priority !== undefined) body.priority = o.priority;
    if (o.label !== undefined) body.labels = o.label;
    if (o.assignee) body.assignee = o.assignee;
    if (o.parent !== undefined) body.parentId = o.parent;
    if (o.blockedBy !== undefined) body.blockedBy = o.blockedBy;
    if (o.due !== undefined) body.dueAt = o.due;
    if (o.metadata) body.metadata = { ...(body.metadata as object | undefined), ...o.metadata };
    printObject(ctx, await ctx.client().tasks.create(body as TaskCreate, { idempotencyKey: o.idempotencyKey }));
  });

  examples(tasks.command('get').description('Show a task: its description, assignee, blockers and the run working on it').argument('<taskId>'), [
    'switchboard tasks get task_01jd4...',
    'switchboard tasks get task_01jd4... --json | jq -r .description',
  ]).action(async (taskId: string) => printObject(ctx, await ctx.client().tasks.get(taskId)));

  examples(
    tasks
      .command('move')
      .description('Move a task to another status, along the transition table (a refused move names the allowed ones)')
      .argument('<taskId>')
      .argument('<status>', `the status to move to: ${STATUSES.join(', ')}`, oneOf(...STATUSES))
      .option('--if-match <etag>', 'only if the task still has this ETag')
      .addHelpText('after', MOVES),
    ['switchboard tasks move task_01jd4... todo', 'switchboard tasks move task_01jd4... done --json | jq -r .completedAt'],
  ).action(async (taskId: string, to: TaskStatus, o: { ifMatch?: string }) =>
    printObject(ctx, await ctx.client().tasks.move(taskId, { to }, { ifMatch: o.ifMatch })),
  );

  examples(
    tasks
      .command('assign')
      .description("Assign a task to an agent or a person (the id's prefix says which), or to nobody with none")
      .argument('<taskId>')
      .argument('<assignee>', 'agent_..., user_..., or none to unassign', assigneeOf)
      .option('--if-match <etag>', 'only if the task still has this ETag'),
    [
      'switchboard tasks assign task_01jd4... agent_01jd4...',
      'switchboard tasks assign task_01jd4... user_01jd4...',
      'switchboard tasks assign task_01jd4... none',
    ],
  ).action(async (taskId: string, assignee: TaskAssignee | null, o: { ifMatch?: string }) =>
    printObject(ctx, await ctx.client().tasks.update(taskId, { assignee }, { ifMatch: o.ifMatch })),
  );

  examples(
    tasks
      .command('comment')
      .description('Comment on a task; @agent_... mentions start a run of each mentioned agent whose autoStart.mentioned is on')
      .argument('<taskId>')
      .argument('<text>', 'the comment, in Markdown, or - for stdin (a leading @ is text here: comments mention agents as @agent_...)')
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)'),
    [
      'switchboard tasks comment task_01jd4... "Refunded; please check."',
      'switchboard tasks comment task_01jd4... "@agent_01jd4... can you take this?" --json',
    ],
  ).action(async (taskId: string, text: string, o: { idempotencyKey?: string }) =>
    printObject(
      ctx,
      await ctx
        .client()
        .tasks.comments.create(taskId, { body: text === '-' ? await readArgument(text, 'the comment') : text }, { idempotencyKey: o.idempotencyKey }),
    ),
  );

  examples(listOptions(tasks.command('comments').description("List a task's comments, oldest first").argument('<taskId>')), [
    'switchboard tasks comments task_01jd4...',
    'switchboard tasks comments task_01jd4... --all --json | jq -r ".[].body"',
  ]).action(async (taskId: string, o: ListOptions) => printList(ctx, ctx.client().tasks.comments.list(taskId, pageQuery(o)), COMMENT_COLUMNS, o, 'comments'));
}
