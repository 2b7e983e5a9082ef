import type { Switchboard } from '../client.js';
import { SwitchboardError } from '../errors.js';
import type * as T from '../generated/types.gen.js';
import type { ToolOutcome } from './llm-tools.js';
import type { RunContext } from './run-handler.js';

/**
 * The built-in task tools of the `llm` runtime: the model lists, creates, changes and comments on
 * the application's tasks with the run's own token, so every change is the run's (audited as the
 * run, `createdBy` and `author` the run). What the server refuses (a task another run holds, a
 * blocked one, a move the transition table does not allow, an unknown id, invalid fields) is the
 * tool's result, told to the model as JSON it can act on; a run that lost its lease stops.
 */
export const TASK_TOOLS = ['list_tasks', 'create_task', 'update_task', 'comment_on_task'] as const;
type TaskToolName = (typeof TASK_TOOLS)[number];

const STATUSES: T.TaskStatus[] = ['backlog', 'todo', 'in_progress', 'in_review', 'done', 'blocked', 'cancelled'];
const PRIORITIES: T.TaskPriority[] = ['urgent', 'high', 'medium', 'low'];
const MOVES =
  'backlog -> todo|cancelled; todo -> in_progress|blocked|backlog|cancelled; in_progress -> in_review|blocked|done|todo|cancelled; ' +
  'in_review -> in_progress|done|todo|cancelled; blocked -> todo|in_progress|cancelled; done -> todo; cancelled -> backlog';
const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 50;
/** Descriptions in lists and in what a change answers are cut to this many characters; reading one task gives it whole. */
const SHORT_DESCRIPTION = 280;
const LATEST_COMMENTS = 20;
const COMMENT_CHARS = 2000;

const TASK_ID = { type: 'string', description: 'The task: its task_... id.' };
const LABELS = { type: 'array', items: { type: 'string', maxLength: 50 }, maxItems: 20, description: 'Labels, e.g. ["refunds"].' };
const ASSIGNEE = 'Who does it: "me" (you), "none", or an agent_... or user_... id.';

type ToolSpec = { description: string; parameters: T.JsonObject };

const SPECS: Record<TaskToolName, ToolSpec> = {
  list_tasks: {
    description:
      'Lists tasks (the work of agents and people), most urgent first, then oldest: each with its id, number, title, status, priority, labels, ' +
      'assignee ("me" when it is yours), blockedBy (the tasks it waits on), dueAt and its description shortened, and checkedOutBy when a run is ' +
      'working on it ("me" for you). Give taskId to read one task in full instead: its whole description and latest comments.',
    parameters: {
      type: 'object',
      additionalProperties: false,
      properties: {
        status: {
          type: 'array',
          items: { type: 'string', enum: STATUSES },
          uniqueItems: true,
          description: 'Only tasks in one of these statuses, e.g. ["todo", "in_progress"]; every status when absent.',
        },
        assignee: { type: 'string', description: 'Only the tasks of "me" (you), of nobody ("none"), or of this agent_... or user_... id.' },
        label: { type: 'string', maxLength: 50, description: 'Only the tasks with this label (exact).' },
        priority: { type: 'string', enum: PRIORITIES, description: 'Only the tasks with this priority.' },
        q: { type: 'string', maxLength: 200, description: 'Words that must all be in the title or the description.' },
        limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, description: `At most this many tasks (default ${String(DEFAULT_LIMIT)}).` },
        taskId: { type: 'string', description: 'Read this one task (task_...) in full, with its latest comments; the filters are then ignored.' },
      },
    },
  },
  create_task: {
    description:
      'Creates a task (recorded as created by you). It starts in "backlog" unless status is "todo", unassigned unless you give an assignee. ' +
      'Answers the new task.',
    parameters: {
      type: 'object',
      additionalProperties: false,
      required: ['title'],
      properties: {
        title: { type: 'string', maxLength: 200, description: 'What is to be done, in one line.' },
        description: { type: 'string', maxLength: 20000, description: 'The details, in Markdown.' },
        status: { type: 'string', enum: ['backlog', 'todo'], description: '"todo" when it is ready to start; "backlog" (the default) otherwise.' },
        priority: { type: 'string', enum: PRIORITIES, description: 'How urgent (default "medium").' },
        labels: LABELS,
        assignee: { type: 'string', description: ASSIGNEE },
        parentId: { type: 'string', description: 'The task (task_...) this one is a sub-task of.' },
        blockedBy: { type: 'array', items: { type: 'string' }, maxItems: 50, description: 'The tasks (task_...) that must be done first.' },
        dueAt: { type: 'string', format: 'date-time', description: 'When it is due, e.g. "2026-12-08T17:00:00Z".' },
      },
    },
  },
  update_task: {
    description:
      'Changes a task: the fields you give first, in one change, then its status. Moving it to "in_progress" takes it for you: no other run ' +
      'can change it while you work on it, until you move it on (e.g. to "in_review" or "done"). If another run is working on it, or it waits ' +
      'on open tasks, you are told so: take another task. The answer says what was applied and gives the task.',
    parameters: {
      type: 'object',
      additionalProperties: false,
      required: ['taskId'],
      properties: {
        taskId: TASK_ID,
        status: { type: 'string', enum: STATUSES, description: `Move the task to this status. Allowed moves: ${MOVES}.` },
        title: { type: 'string', maxLength: 200, description: 'A new title, in one line.' },
        description: { type: ['string', 'null'], maxLength: 20000, description: 'A new description, in Markdown; null clears it.' },
        priority: { type: 'string', enum: PRIORITIES },
        labels: { ...LABELS, description: 'The labels, all of them (they replace the current ones).' },
        assignee: { type: 'string', description: ASSIGNEE },
        dueAt: { type: ['string', 'null'], format: 'date-time', description: 'When it is due; null clears it.' },
      },
    },
  },
  comment_on_task: {
    description:
      'Adds a comment to a task, as you: progress, a finding, a question, a hand-over note. Mention an agent as @agent_... to notify it ' +
      '(an agent that starts on mentions starts a run on the task).',
    parameters: {
      type: 'object',
      additionalProperties: false,
      required: ['taskId', 'body'],
      properties: { taskId: TASK_ID, body: { type: 'string', maxLength: 10000, description: 'The comment, in Markdown.' } },
    },
  },
};

export const isTaskTool = (tool: T.AgentTool | undefined): tool is T.AgentTool & { name: TaskToolName } =>
  tool?.kind === 'builtin' && (TASK_TOOLS as readonly string[]).includes(tool.name);

/** A task tool as the model is offered it: the runtime's description (unless the agent gave one) and arguments. */
export const taskToolForModel = (tool: T.AgentTool & { name: TaskToolName }): T.AgentTool => ({
  ...tool,
  description: tool.description ?? SPECS[tool.name].description,
  inputSchema: SPECS[tool.name].parameters,
});

/** What the model is told of a refusal, besides the problem's detail: what to do next. */
const HINTS: Record<string, string> = {
  'task-checked-out': 'Another run is working on this task: do not retry; take another task, or leave a comment.',
  'task-blocked': 'The task waits on the open tasks in blockedBy: it can start once they are done or cancelled.',
  'invalid-transition': 'Pick one of the moves the error names.',
  'not-found': 'An id is not one of the application (list_tasks finds tasks).',
  'validation-error': 'Fix what errors names and try again.',
  'bad-request': 'Fix the arguments and try again.',
};

class ArgumentError extends Error {}

/**
 * A refusal as the tool's result: the problem's detail with its code and what the model can act
 * on (the run holding the task, the open blockers, the invalid fields). A run whose token is no
 * longer taken (401) or whose lease is lost, and a run being stopped, end here: the error goes on.
 */
function refusal(err: unknown, extra: Record<string, unknown> = {}): ToolOutcome {
  if (err instanceof ArgumentError) return { ok: false, error: err.message, ...(Object.keys(extra).length ? { details: extra } : {}) };
  if (!(err instanceof SwitchboardError) || err.status === 401 || err.code === 'lease-lost' || err.code === 'aborted') throw err;
  const problem = err.problem;
  const unanswered = err.status === 0 || err.status >= 500;
  const details: Record<string, unknown> = {
    code: err.code,
    ...(problem?.checkoutRunId ? { checkoutRunId: problem.checkoutRunId } : {}),
    ...(problem?.blockedBy ? { blockedBy: problem.blockedBy } : {}),
    ...(problem?.errors?.length ? { errors: problem.errors.map((issue) => ({ field: issue.pointer ?? issue.parameter ?? null, detail: issue.detail })) } : {}),
    hint: HINTS[err.code] ?? (unanswered ? 'The task service did not answer: try again later.' : 'The server refused it.'),
    ...extra,
  };
  return { ok: false, error: problem?.detail || err.message, details };
}

const shorten = (text: string | null, max: number) => (text === null || text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** A task as the model reads it: what it needs to pick and do work, "me" where it is this agent or run. */
function compact(ctx: RunContext, task: T.Task, descriptionMax = SHORT_DESCRIPTION) {
  const assignee = task.assignee ? (task.assignee.type === 'agent' && task.assignee.id === ctx.agent.id ? 'me' : task.assignee.id) : null;
  return {
    id: task.id,
    number: task.number,
    title: task.title,
    status: task.status,
    priority: task.priority,
    labels: task.labels,
    assignee,
    blockedBy: task.blockedBy,
    dueAt: task.dueAt,
    description: shorten(task.description, descriptionMax),
    ...(task.parentId ? { parentId: task.parentId } : {}),
    ...(task.checkout ? { checkedOutBy: task.checkout.runId === ctx.run.id ? 'me' : task.checkout.runId } : {}),
  };
}

const isString = (value: unknown): value is string => typeof value === 'string';

/** A string argument, if given; anything else but a string is the model's mistake, told to it. */
function text(args: Record<string, unknown>, name: string): string | undefined {
  const value = args[name];
  if (value === undefined || value === null) return undefined;
  if (!isString(value)) throw new ArgumentError(`${name} must be a string.`);
  return value;
}

function required(args: Record<string, unknown>, name: string): string {
  const value = text(args, name);
  if (!value) throw new ArgumentError(`${name} is required.`);
  return value;
}

/** An assignee argument: "me" is the run's own agent, "none" (or null) nobody; undefined when not given. */
function assigneeOf(ctx: RunContext, value: unknown): T.TaskAssignee | null | undefined {
  if (value === undefined) return undefined;
  if (value === null || value === 'none') return null;
  if (value === 'me') return { type: 'agent', id: ctx.agent.id };
  if (isString(value) && /^agent_/.test(value)) return { type: 'agent', id: value };
  if (isString(value) && /^user_/.test(value)) return { type: 'user', id: value };
  throw new ArgumentError(`assignee must be "me", "none", or an agent_... or user_... id; got ${JSON.stringify(value)}.`);
}

/** Only the arguments the model gave, under their API names. */
const given = <V extends Record<string, unknown>>(fields: V): Partial<V> =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<V>;

type Api = Switchboard['tasks'];
type Call = { signal: AbortSignal; timeout: number };

async function listTasks(ctx: RunContext, api: Api, o: Call, args: Record<string, unknown>) {
  const taskId = text(args, 'taskId');
  if (taskId) return readTask(ctx, api, o, taskId);
  const statuses = Array.isArray(args.status) ? args.status.filter(isString).join(',') : text(args, 'status');
  const assignee = args.assignee === 'me' ? ctx.agent.id : text(args, 'assignee');
  const limit = typeof args.limit === 'number' && Number.isInteger(args.limit) ? Math.min(MAX_LIMIT, Math.max(1, args.limit)) : DEFAULT_LIMIT;
  const query = given({
    status: statuses || undefined,
    assignee,
    label: text(args, 'label'),
    priority: text(args, 'priority') as T.TaskPriority | undefined,
    q: text(args, 'q'),
  });
  const page = await api.list({ ...query, sort: 'priority', pageSize: limit }, o);
  const { total } = page.pagination;
  return {
    total,
    tasks: page.data.map((task) => compact(ctx, task)),
    ...(total > page.data.length
      ? { more: `These are ${String(page.data.length)} of ${String(total)}: narrow the filters, or raise limit (at most 50).` }
      : {}),
  };
}

/** One task whole, with its latest comments (oldest of them first). */
async function readTask(ctx: RunContext, api: Api, o: Call, taskId: string) {
  const task = await api.get(taskId, o);
  const first = await api.comments.list(taskId, { pageSize: LATEST_COMMENTS }, o);
  const { total, totalPages } = first.pagination;
  let comments = first.data;
  if (totalPages > 1) {
    // The last page, and the one before when the last has fewer than LATEST_COMMENTS.
    const last = await api.comments.list(taskId, { page: totalPages, pageSize: LATEST_COMMENTS }, o);
    const before = last.data.length < LATEST_COMMENTS ? await api.comments.list(taskId, { page: totalPages - 1, pageSize: LATEST_COMMENTS }, o) : undefined;
    comments = [...(before?.data ?? []), ...last.data].slice(-LATEST_COMMENTS);
  }
  const author = (actor: T.TaskActor) => (actor.type === 'run' && actor.id === ctx.run.id ? 'me' : actor.id);
  return {
    task: compact(ctx, task, Infinity),
    commentCount: total,
    comments: comments.map((c) => ({ id: c.id, author: author(c.author), createdAt: c.createdAt, body: shorten(c.body, COMMENT_CHARS) })),
  };
}

async function createTask(ctx: RunContext, api: Api, o: Call, args: Record<string, unknown>) {
  const assignee = assigneeOf(ctx, args.assignee);
  const body = given({
    title: required(args, 'title'),
    description: text(args, 'description'),
    status: text(args, 'status') as T.TaskCreate['status'],
    priority: text(args, 'priority') as T.TaskPriority | undefined,
    labels: args.labels as string[] | undefined,
    assignee: assignee ?? undefined,
    parentId: text(args, 'parentId'),
    blockedBy: args.blockedBy as string[] | undefined,
    dueAt: text(args, 'dueAt'),
  }) as T.TaskCreate;
  return { created: compact(ctx, await api.create(body, o)) };
}

/** The fields first (one merge patch), then the move (one transition): a refused move after an applied patch says what was applied. */
async function updateTask(ctx: RunContext, api: Api, o: Call, args: Record<string, unknown>): Promise<ToolOutcome> {
  const taskId = required(args, 'taskId');
  const to = text(args, 'status') as T.TaskStatus | undefined;
  // An empty description or due date clears it, as null does.
  const cleared = (name: string) => (args[name] === '' || args[name] === null ? null : text(args, name));
  const patch = given({
    title: text(args, 'title'),
    description: cleared('description'),
    priority: text(args, 'priority') as T.TaskPriority | undefined,
    labels: args.labels as string[] | undefined,
    assignee: assigneeOf(ctx, args.assignee),
    dueAt: cleared('dueAt'),
  }) as T.TaskUpdate;
  const fields = Object.keys(patch);
  if (!fields.length && !to)
    throw new ArgumentError('Nothing to change: give a status, or a field to change (title, description, priority, labels, assignee, dueAt).');
  let task: T.Task | undefined;
  if (fields.length) task = await api.update(taskId, patch, o);
  if (to) {
    try {
      task = await api.move(taskId, { to }, o);
    } catch (err) {
      if (!task) throw err;
      return refusal(err, { applied: fields, notApplied: ['status'], task: compact(ctx, task) });
    }
  }
  const moved = to === 'in_progress' ? { checkedOut: 'The task is yours to work on (checked out by you) until you move it on.' } : {};
  return { ok: true, result: { applied: to ? [...fields, 'status'] : fields, ...moved, task: compact(ctx, task!) } };
}

async function commentOnTask(api: Api, o: Call, args: Record<string, unknown>) {
  const comment = await api.comments.create(required(args, 'taskId'), { body: required(args, 'body') }, o);
  return {
    commented: {
      id: comment.id,
      taskId: comment.taskId,
      mentions: comment.mentions,
      ...(comment.startedRunIds.length ? { startedRunIds: comment.startedRunIds } : {}),
    },
  };
}

/**
 * Executes one task tool call with `api`, a client holding the run's token; `timeoutMs` bounds
 * each request. The answer is the tool's result, a refusal is told to the model (see `refusal`).
 */
export async function runTaskTool(ctx: RunContext, api: Api, name: TaskToolName, args: Record<string, unknown>, timeoutMs: number): Promise<ToolOutcome> {
  const o: Call = { signal: ctx.signal, timeout: timeoutMs };
  try {
    switch (name) {
      case 'list_tasks':
        return { ok: true, result: await listTasks(ctx, api, o, args) };
      case 'create_task':
        return { ok: true, result: await createTask(ctx, api, o, args) };
      case 'update_task':
        return await updateTask(ctx, api, o, args);
      case 'comment_on_task':
        return { ok: true, result: await commentOnTask(api, o, args) };
    }
  } catch (err) {
    return refusal(err);
  }
}
