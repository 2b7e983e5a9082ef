import { beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { signUp, personalToken, uniqueEmail } from '../support/people.js';
import { createKey } from './helpers.js';
import { call, expectInvalidTransition, expectProblem, isolatedApp, newAgent, type Conn } from './run-helpers.js';

type Task = components['schemas']['Task'];
type TaskStatus = components['schemas']['TaskStatus'];
type TaskList = components['schemas']['TaskList'];

let app: { appId: string; key: string; adminKey: string };
let conn: Conn;
let agentId: string;
let endpointId: string;

/** A key of the application with a write budget of its own (120 a minute), for a test that writes more. */
const freshKey = async () => {
  conn = { baseUrl: inject('serverUrl'), key: (await createKey({ scopes: ['write'], by: app.adminKey, appId: app.appId })).secret };
};

beforeAll(async () => {
  app = await isolatedApp('tasks');
  conn = { baseUrl: inject('serverUrl'), key: app.key };
  agentId = (await newAgent(conn)).id;
  const endpoint = await call<{ id: string }>(conn, 'POST', '/api/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks', eventTypes: ['task.*'] });
  expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
  endpointId = endpoint.body.id;
});

beforeEach(freshKey);

const absentTask = 'task_01jd4x7p2kf8q6v3b9m5t0s1ab';

const newTask = async (body: Record<string, unknown> = {}): Promise<Task> => {
  const r = await call<Task>(conn, 'POST', '/api/v1/tasks', { title: 'Refund order 10-2291', ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
};
const move = (id: string, to: TaskStatus, headers: Record<string, string> = {}) => call<Task>(conn, 'POST', `/api/v1/tasks/${id}/transitions`, { to }, headers);
const moved = async (id: string, to: TaskStatus) => {
  const r = await move(id, to);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
};
const getTask = async (id: string) => (await call<Task>(conn, 'GET', `/api/v1/tasks/${id}`)).body;
const patch = (id: string, body: unknown, headers: Record<string, string> = {}) => call<Task>(conn, 'PATCH', `/api/v1/tasks/${id}`, body, headers);
const list = async (query: string) => {
  const r = await call<TaskList>(conn, 'GET', `/api/v1/tasks?pageSize=100&${query}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.data;
};
const ids = (tasks: Task[]) => tasks.map((t) => t.id);

/** A way to each status from a new task: created in backlog or todo, then allowed moves only. */
const PATHS: Record<TaskStatus, TaskStatus[]> = {
  backlog: [],
  todo: ['todo'],
  in_progress: ['todo', 'in_progress'],
  in_review: ['todo', 'in_progress', 'in_review'],
  done: ['todo', 'in_progress', 'done'],
  blocked: ['todo', 'blocked'],
  cancelled: ['cancelled'],
};
const ALLOWED: Record<TaskStatus, TaskStatus[]> = {
  backlog: ['todo', 'cancelled'],
  todo: ['in_progress', 'blocked', 'backlog', 'cancelled'],
  in_progress: ['in_review', 'blocked', 'done', 'todo', 'cancelled'],
  in_review: ['in_progress', 'done', 'todo', 'cancelled'],
  blocked: ['todo', 'in_progress', 'cancelled'],
  done: ['todo'],
  cancelled: ['backlog'],
};
const STATUSES = Object.keys(PATHS) as TaskStatus[];

async function taskIn(status: TaskStatus, body: Record<string, unknown> = {}): Promise<Task> {
  const [first, ...rest] = PATHS[status];
  let task = await newTask({ ...body, status: first === 'todo' ? 'todo' : 'backlog' });
  for (const to of first === 'todo' ? rest : PATHS[status]) task = await moved(task.id, to);
  expect(task.status).toBe(status);
  return task;
}

describe('a task', () => {
  it('is created with its fields, numbered after the last one, and read back as created', async () => {
    const parent = await newTask({ title: 'Handle the damaged parcels' });
    const blocker = await newTask({ title: 'Get the photos' });
    const made = await call<Task>(conn, 'POST', '/api/v1/tasks', {
      title: 'Refund the damaged order 10-2291',
      description: 'The customer sent photos.\n\n- Check them\n- Refund',
      status: 'todo',
      priority: 'high',
      labels: ['refunds', 'customer'],
      assignee: { type: 'agent', id: agentId },
      parentId: parent.id,
      blockedBy: [blocker.id],
      dueAt: '2026-12-08T17:00:00Z',
      metadata: { ticket: 'T-4817' },
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const task = made.body;
    expect(task).toMatchObject({
      object: 'task',
      number: blocker.number + 1,
      status: 'todo',
      priority: 'high',
      labels: ['refunds', 'customer'],
      assignee: { type: 'agent', id: agentId },
      parentId: parent.id,
      blockedBy: [blocker.id],
      dueAt: '2026-12-08T17:00:00.000Z',
      metadata: { ticket: 'T-4817' },
      createdBy: { type: 'api_key' },
      startedAt: null,
      completedAt: null,
      cancelledAt: null,
    });
    expect(task.id).toMatch(/^task_[0-7][0-9a-hjkmnp-tv-z]{25}$/);
    expect(made.headers.get('location')).toBe(`/api/v1/tasks/${task.id}`);
    expect(made.headers.get('etag')).toBeTruthy();
    expect(await getTask(task.id)).toEqual(task);
    expect(parent.number).toBe(blocker.number - 1);

    const plain = await newTask();
    expect(plain).toMatchObject({
      status: 'backlog',
      priority: 'medium',
      labels: [],
      assignee: null,
      parentId: null,
      blockedBy: [],
      dueAt: null,
      description: null,
    });
  });

  it('names only what its application has: another agent, task or user is 404, a mismatched assignee 422, a status past todo 422', async () => {
    expectProblem(
      await call(conn, 'POST', '/api/v1/tasks', { title: 'x', assignee: { type: 'agent', id: 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab' } }),
      404,
      'not-found',
    );
    expectProblem(
      await call(conn, 'POST', '/api/v1/tasks', { title: 'x', assignee: { type: 'user', id: 'user_01jd4x7p2kf8q6v3b9m5t0s1ab' } }),
      404,
      'not-found',
    );
    expectProblem(await call(conn, 'POST', '/api/v1/tasks', { title: 'x', assignee: { type: 'user', id: agentId } }), 422, 'validation-error');
    expectProblem(await call(conn, 'POST', '/api/v1/tasks', { title: 'x', parentId: absentTask }), 404, 'not-found', absentTask);
    expectProblem(await call(conn, 'POST', '/api/v1/tasks', { title: 'x', blockedBy: [absentTask] }), 404, 'not-found', absentTask);
    expectProblem(await call(conn, 'POST', '/api/v1/tasks', { title: 'x', status: 'in_progress' }), 422, 'validation-error');
    expectProblem(await call(conn, 'POST', '/api/v1/tasks', { title: 'x', labels: ['a', 'a'] }), 422, 'validation-error');
    expectProblem(await call(conn, 'POST', '/api/v1/tasks', { title: 'x', labels: [' padded'] }), 422, 'validation-error');
  });

  it('is assigned to a member of the organization, never to a person outside it', async () => {
    const owner = await signUp(inject('serverUrl'), { name: 'Tess Tasks' });
    const stranger = await signUp(inject('serverUrl'), { name: 'Sam Stranger' });
    const apps = (await (await owner.browser.fetch('/api/v1/applications')).json()) as { data: { id: string }[] };
    const asOwner = { baseUrl: inject('serverUrl'), key: await personalToken(owner), headers: { 'X-App-Id': apps.data[0]!.id } };
    const mine = await call<Task>(asOwner, 'POST', '/api/v1/tasks', { title: 'Mine', assignee: { type: 'user', id: owner.userId } });
    expect(mine.status, JSON.stringify(mine.body)).toBe(201);
    expect(mine.body).toMatchObject({ assignee: { type: 'user', id: owner.userId }, createdBy: { type: 'user', id: owner.userId } });
    expectProblem(
      await call(asOwner, 'PATCH', `/api/v1/tasks/${mine.body.id}`, { assignee: { type: 'user', id: stranger.userId } }),
      404,
      'not-found',
      stranger.userId,
    );

    // A member who leaves the organization is taken off the tasks they were given.
    const invitation = await owner.browser.fetch('/api/v1/invitations', { json: { email: uniqueEmail('leaver'), role: 'member' } });
    expect(invitation.status).toBe(201);
    const { token, email } = (await invitation.json()) as { token: string; email: string };
    const leaver = await signUp(inject('serverUrl'), { email, invitationToken: token });
    const theirs = await call<Task>(asOwner, 'POST', '/api/v1/tasks', { title: 'Theirs', assignee: { type: 'user', id: leaver.userId } });
    expect(theirs.status, JSON.stringify(theirs.body)).toBe(201);
    expect((await owner.browser.fetch(`/api/v1/members/${leaver.userId}`, { method: 'DELETE' })).status).toBe(204);
    expect((await call<Task>(asOwner, 'GET', `/api/v1/tasks/${theirs.body.id}`)).body.assignee).toBeNull();
  });
});

describe('task transitions', () => {
  it('allows exactly the moves of the table, and refuses every other naming the current status', async () => {
    for (const from of STATUSES) {
      await freshKey();
      for (const to of STATUSES) {
        const task = await taskIn(from);
        const r = await move(task.id, to);
        if (ALLOWED[from].includes(to)) {
          expect(r.status, `${from} -> ${to}: ${JSON.stringify(r.body)}`).toBe(200);
          expect(r.body.status).toBe(to);
        } else {
          const problem = expectInvalidTransition(r, from);
          for (const allowed of ALLOWED[from]) expect(problem.detail, `${from} -> ${to}`).toContain(allowed);
          expect((await getTask(task.id)).status).toBe(from);
        }
      }
    }
  });

  it('stamps when work started, was done or cancelled, and clears the stamp when reopened or restored', async () => {
    const task = await taskIn('in_progress');
    expect(task.startedAt).not.toBeNull();
    await moved(task.id, 'todo');
    const again = await moved(task.id, 'in_progress');
    expect(again.startedAt).toBe(task.startedAt);
    const done = await moved(task.id, 'done');
    expect(done.completedAt).not.toBeNull();
    expect((await moved(task.id, 'todo')).completedAt).toBeNull();
    const cancelled = await moved(task.id, 'cancelled');
    expect(cancelled.cancelledAt).not.toBeNull();
    expect((await moved(task.id, 'backlog')).cancelledAt).toBeNull();
  });

  it('moves only if the task has not changed meanwhile, with If-Match', async () => {
    const task = await newTask();
    const etag = (await call(conn, 'GET', `/api/v1/tasks/${task.id}`)).headers.get('etag')!;
    await patch(task.id, { priority: 'low' });
    expectProblem(await move(task.id, 'todo', { 'If-Match': etag }), 412, 'precondition-failed');
    expect((await getTask(task.id)).status).toBe('backlog');
  });
});

describe('blockers', () => {
  it('keep a task from starting while one is open, and free a blocked task when the last closes', async () => {
    const photos = await newTask({ title: 'Get the photos', status: 'todo' });
    const carrier = await newTask({ title: 'Ask the carrier', status: 'todo' });
    const refund = await newTask({ title: 'Refund', status: 'todo', blockedBy: [photos.id, carrier.id] });
    const refused = expectProblem(await move(refund.id, 'in_progress'), 409, 'task-blocked');
    expect(refused.blockedBy).toEqual([photos.id, carrier.id].sort());
    await moved(refund.id, 'blocked');

    await moved(photos.id, 'in_progress');
    await moved(photos.id, 'done');
    expect((await getTask(refund.id)).status).toBe('blocked');
    expect(expectProblem(await move(refund.id, 'in_progress'), 409, 'task-blocked').blockedBy).toEqual([carrier.id]);

    await moved(carrier.id, 'cancelled');
    const freed = await getTask(refund.id);
    expect(freed.status).toBe('todo');
    expect(freed.blockedBy).toEqual([photos.id, carrier.id].sort());
    await moved(refund.id, 'in_progress');

    const events = await call<{ data: { eventType: string; payload: { data: { id: string } } }[] }>(
      conn,
      'GET',
      `/api/v1/webhook-endpoints/${endpointId}/messages?pageSize=100`,
    );
    const about = (id: string) => events.body.data.filter((m) => m.payload.data.id === id).map((m) => m.eventType);
    expect(about(refund.id)).toContain('task.unblocked');
    expect(about(refund.id).filter((t) => t === 'task.status_changed')).toHaveLength(2);
  });

  it('free the tasks an open blocker blocked when it is deleted, but leave a task blocked by hand alone', async () => {
    const blocker = await newTask({ status: 'todo' });
    const waiting = await newTask({ status: 'todo', blockedBy: [blocker.id] });
    await moved(waiting.id, 'blocked');
    const byHand = await taskIn('blocked');
    expect((await call(conn, 'DELETE', `/api/v1/tasks/${blocker.id}`)).status).toBe(204);
    expect(await getTask(waiting.id)).toMatchObject({ status: 'todo', blockedBy: [] });
    expect((await getTask(byHand.id)).status).toBe('blocked');
  });

  it('never make a cycle, nor do parents', async () => {
    const a = await newTask();
    const b = await newTask({ blockedBy: [a.id] });
    const c = await newTask({ blockedBy: [b.id] });
    expectProblem(await patch(a.id, { blockedBy: [a.id] }), 422, 'validation-error');
    expectProblem(await patch(a.id, { blockedBy: [b.id] }), 422, 'validation-error');
    expectProblem(await patch(a.id, { blockedBy: [c.id] }), 422, 'validation-error');
    expect((await getTask(a.id)).blockedBy).toEqual([]);

    const top = await newTask();
    const child = await newTask({ parentId: top.id });
    const grandchild = await newTask({ parentId: child.id });
    expectProblem(await patch(top.id, { parentId: top.id }), 422, 'validation-error', 'itself');
    expectProblem(await patch(top.id, { parentId: grandchild.id }), 422, 'validation-error', 'sub-task');
    expect((await patch(grandchild.id, { parentId: top.id })).status).toBe(200);
  });
});

describe('changing a task', () => {
  it('merges a patch: lists replaced, metadata merged, nulls clear', async () => {
    const task = await newTask({
      description: 'old',
      labels: ['a', 'b'],
      assignee: { type: 'agent', id: agentId },
      metadata: { keep: '1', drop: '2' },
      dueAt: '2026-12-08T17:00:00.000Z',
    });
    const r = await patch(task.id, { description: null, labels: ['c'], assignee: null, metadata: { drop: null, add: '3' }, dueAt: null, priority: 'urgent' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({
      description: null,
      labels: ['c'],
      assignee: null,
      metadata: { keep: '1', add: '3' },
      dueAt: null,
      priority: 'urgent',
      title: task.title,
    });
    expect(await list('label=a').then(ids)).not.toContain(task.id);
    expect(await list('label=c').then(ids)).toContain(task.id);
    expectProblem(await patch(task.id, { title: 'x' }, { 'If-Match': '"stale"' }), 412, 'precondition-failed');
    expectProblem(await patch(task.id, { status: 'done' }), 422, 'validation-error');
  });

  it('is deleted: its sub-tasks become top-level tasks', async () => {
    const parent = await newTask();
    const child = await newTask({ parentId: parent.id });
    expect((await call(conn, 'DELETE', `/api/v1/tasks/${parent.id}`)).status).toBe(204);
    expectProblem(await call(conn, 'GET', `/api/v1/tasks/${parent.id}`), 404, 'not-found');
    expect((await getTask(child.id)).parentId).toBeNull();
  });
});

describe('finding tasks', () => {
  it('filters by status, priority, assignee, label, parent, blocker and due date, and sorts', async () => {
    const tag = `f${Date.now()}`;
    const parent = await newTask({ title: `${tag} parent`, labels: [tag] });
    const urgent = await newTask({
      title: `${tag} urgent`,
      labels: [tag],
      priority: 'urgent',
      status: 'todo',
      assignee: { type: 'agent', id: agentId },
      dueAt: '2026-12-10T00:00:00Z',
    });
    const low = await newTask({
      title: `${tag} low`,
      labels: [tag],
      priority: 'low',
      parentId: parent.id,
      blockedBy: [urgent.id],
      dueAt: '2026-12-07T00:00:00Z',
    });
    const mine = (query: string) => list(`label=${tag}&${query}`).then(ids);

    expect(await mine('status=todo')).toEqual([urgent.id]);
    expect((await mine('status=backlog,todo')).sort()).toEqual([parent.id, urgent.id, low.id].sort());
    expect(await mine('priority=low')).toEqual([low.id]);
    expect(await mine(`assignee=${agentId}`)).toEqual([urgent.id]);
    expect((await mine('assignee=none')).sort()).toEqual([parent.id, low.id].sort());
    expect(await mine(`parentId=${parent.id}`)).toEqual([low.id]);
    expect((await mine('parentId=none')).sort()).toEqual([parent.id, urgent.id].sort());
    expect(await mine(`blockedBy=${urgent.id}`)).toEqual([low.id]);
    expect(await mine('dueBefore=2026-12-08T00:00:00Z')).toEqual([low.id]);
    expect(await mine('sort=priority')).toEqual([urgent.id, parent.id, low.id]);
    expect(await mine('sort=-priority')).toEqual([low.id, parent.id, urgent.id]);
    expect(await mine('sort=dueAt')).toEqual([low.id, urgent.id, parent.id]);
    expect(await mine('sort=-dueAt')).toEqual([urgent.id, low.id, parent.id]);
    expect(await mine('sort=number')).toEqual([parent.id, urgent.id, low.id]);
    expectProblem(await call(conn, 'GET', '/api/v1/tasks?status=todo,started'), 422, 'validation-error');
  });

  it('searches title and description for every word, by its beginning, in any case', async () => {
    const tag = `s${Date.now()}`;
    const refund = await newTask({ title: `${tag} Refund order 10-2291`, description: 'Photos from jane@example.com show the Größe of the damage.' });
    const ship = await newTask({ title: `${tag} Ship the replacement`, description: 'Only after the refund.' });
    const found = (q: string) => list(`q=${encodeURIComponent(`${tag} ${q}`)}`).then((t) => ids(t).sort());
    expect(await found('refund')).toEqual([refund.id, ship.id].sort());
    expect(await found('REFUND order')).toEqual([refund.id]);
    expect(await found('2291')).toEqual([refund.id]);
    expect(await found('jane example')).toEqual([refund.id]);
    expect(await found('größe')).toEqual([refund.id]);
    expect(await found('repl')).toEqual([ship.id]);
    expect(await found('refund warehouse')).toEqual([]);
    expect(await found('"refund* (')).toEqual([refund.id, ship.id].sort());
    await patch(ship.id, { title: `${tag} Ship the spare` });
    expect(await found('repl')).toEqual([]);
    expect(await found('spare')).toEqual([ship.id]);
    await call(conn, 'DELETE', `/api/v1/tasks/${refund.id}`);
    expect(await found('2291')).toEqual([]);
  });
});

describe('bulk changes', () => {
  const bulk = (changes: Record<string, unknown>[]) => call<{ data: Task[] }>(conn, 'POST', '/api/v1/tasks/bulk', { changes });

  it('apply 100 changes in one transaction, or none: 3 invalid ones are reported and nothing is applied', async () => {
    const tasks: Task[] = [];
    for (let i = 0; i < 50; i++) tasks.push(await newTask({ title: `bulk ${i}`, status: 'todo', labels: ['old'] }));
    await freshKey();
    const changes: Record<string, unknown>[] = tasks.flatMap((t) => [
      { taskId: t.id, priority: 'high', assignee: { type: 'agent', id: agentId }, addLabels: ['triaged'], removeLabels: ['old'] },
      { taskId: t.id, status: 'in_progress' },
    ]);
    changes[7] = { taskId: tasks[3]!.id, status: 'todo', labels: ['x'] }; // fine: a task already in todo stays there
    changes[11] = { taskId: tasks[5]!.id, status: 'in_review' }; // todo -> in_review is not a move
    changes[42] = { taskId: absentTask, priority: 'low' };
    changes[99] = { taskId: tasks[49]!.id, assignee: { type: 'agent', id: 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab' } };
    const before = (await call(conn, 'GET', `/api/v1/webhook-endpoints/${endpointId}/messages?pageSize=1`)).body as { pagination: { total: number } };

    const refused = expectProblem(await bulk(changes), 422, 'bulk-failed', '3 of the 100 changes');
    expect(refused.errors!.map((e) => [e.pointer, (e as { code?: string }).code])).toEqual([
      ['/changes/11', 'invalid-transition'],
      ['/changes/42', 'not-found'],
      ['/changes/99', 'not-found'],
    ]);
    for (const t of [tasks[0]!, tasks[5]!, tasks[49]!])
      expect(await getTask(t.id)).toMatchObject({ status: 'todo', priority: 'medium', labels: ['old'], assignee: null });
    const after = (await call(conn, 'GET', `/api/v1/webhook-endpoints/${endpointId}/messages?pageSize=1`)).body as { pagination: { total: number } };
    expect(after.pagination.total).toBe(before.pagination.total);

    // Without the three, all 97 apply, in order.
    const applied = await bulk(changes.filter((_, i) => ![11, 42, 99].includes(i)));
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect(applied.body.data).toHaveLength(97);
    expect(await getTask(tasks[0]!.id)).toMatchObject({
      status: 'in_progress',
      priority: 'high',
      labels: ['triaged'],
      assignee: { type: 'agent', id: agentId },
    });
    expect(await getTask(tasks[3]!.id)).toMatchObject({ status: 'todo', labels: ['x'], priority: 'high' });
  });
});
