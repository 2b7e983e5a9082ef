import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { call, claim, complete, expectProblem, heartbeat, label, newAgent, newRun, newRunner, runnerConn, type Conn } from './run-helpers.js';

type Task = components['schemas']['Task'];
type Approval = components['schemas']['Approval'];

/** Checkouts on a server whose clock the test moves (leases expire when it says). */
let now = Date.now();
let running: InProcessServer;
let app: Conn;

beforeAll(async () => {
  running = await startInProcessServer({ now: () => now });
  app = { baseUrl: running.baseUrl, key: running.adminKey };
});
afterAll(() => running?.stop());

const later = (seconds: number) => (now += seconds * 1000);
const LEASE_SECONDS = 30;

/** `count` runs of one agent, each claimed by a runner of its own: their run tokens act as the agent. */
async function claimedRuns(count: number) {
  const tag = label();
  const agent = await newAgent(app, { labels: [tag] });
  const runs = [];
  for (let i = 0; i < count; i++) {
    const runner = await newRunner(app, [tag]);
    const rc = runnerConn(running.baseUrl, runner);
    const run = await newRun(app, agent.id);
    const c = await claim(rc, runner.id);
    expect(c.run.id).toBe(run.id);
    runs.push({ run, runner, rc, claim: c, asRun: { baseUrl: running.baseUrl, key: c.runToken.token } as Conn });
  }
  return runs;
}

const newTask = async (body: Record<string, unknown> = {}) => {
  const r = await call<Task>(app, 'POST', '/api/v1/tasks', { title: 'Refund order 10-2291', status: 'todo', ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
};
const getTask = async (id: string) => (await call<Task>(app, 'GET', `/api/v1/tasks/${id}`)).body;
const checkout = (as: Conn, id: string) => call<Task>(as, 'POST', `/api/v1/tasks/${id}/checkout`);
const move = (as: Conn, id: string, to: string) => call<Task>(as, 'POST', `/api/v1/tasks/${id}/transitions`, { to });

describe('checking a task out', () => {
  it('lets exactly one of 10 racing runs win; its late write after losing its lease is refused, and another run takes the task over', async () => {
    const runs = await claimedRuns(10);
    const task = await newTask();
    const replies = await Promise.all(runs.map((r) => checkout(r.asRun, task.id)));
    const won = replies.map((r, i) => ({ r, i })).filter(({ r }) => r.status === 200);
    expect(won).toHaveLength(1);
    const winner = runs[won[0]!.i]!;
    for (const reply of replies.filter((r) => r.status !== 200)) {
      expect(expectProblem(reply, 409, 'task-checked-out').checkoutRunId).toBe(winner.run.id);
    }
    expect(await getTask(task.id)).toMatchObject({
      status: 'in_progress',
      checkout: { runId: winner.run.id, fencingToken: winner.claim.lease.fencingToken },
    });
    // The winner checking out again changes nothing; the others cannot write to the task meanwhile.
    expect((await checkout(winner.asRun, task.id)).status).toBe(200);
    const other = runs.find((r) => r !== winner)!;
    expect(expectProblem(await move(other.asRun, task.id, 'in_review'), 409, 'task-checked-out').checkoutRunId).toBe(winner.run.id);
    expectProblem(await call(other.asRun, 'PATCH', `/api/v1/tasks/${task.id}`, { priority: 'low' }), 409, 'task-checked-out');

    // The others keep their leases; the winner's expires.
    later(LEASE_SECONDS / 2);
    for (const r of runs.filter((r) => r !== winner)) expect((await heartbeat(r.rc, r.claim.lease.id, r.claim.lease.fencingToken)).status).toBe(200);
    later(LEASE_SECONDS / 2 + 1);
    // Its token died with its lease: the late write is refused, and the task is not changed.
    expectProblem(await move(winner.asRun, task.id, 'in_review'), 401, 'unauthorized', 'lease has ended');
    expectProblem(await call(winner.asRun, 'PATCH', `/api/v1/tasks/${task.id}`, { title: 'Late' }), 401, 'unauthorized', 'lease has ended');
    expect(await getTask(task.id)).toMatchObject({ status: 'in_progress', title: task.title });
    const taken = await checkout(other.asRun, task.id);
    expect(taken.status, JSON.stringify(taken.body)).toBe(200);
    expect(taken.body.checkout?.runId).toBe(other.run.id);
    expect(taken.body.title).toBe(task.title);
    // The reaper re-queues the winner's run: what it released is no longer its to release.
    await running.server.reapNow();
    expect((await getTask(task.id)).checkout?.runId).toBe(other.run.id);
    const reviewed = await move(other.asRun, task.id, 'in_review');
    expect(reviewed.status, JSON.stringify(reviewed.body)).toBe(200);
    expect(reviewed.body.checkout).toBeNull();
  });

  it("is released by the run's end: the task goes back to todo", async () => {
    const [r] = await claimedRuns(1);
    const task = await newTask();
    expect((await move(r!.asRun, task.id, 'in_progress')).body.checkout?.runId).toBe(r!.run.id);
    const done = await complete(r!.rc, r!.claim.lease.id, { fencingToken: r!.claim.lease.fencingToken, status: 'succeeded', output: {} });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(await getTask(task.id)).toMatchObject({ status: 'todo', checkout: null });
  });

  it('is kept by a run that waits on a person, and follows it to its new lease when it resumes', async () => {
    const [asker, rival] = await claimedRuns(2);
    const task = await newTask();
    expect((await checkout(asker!.asRun, task.id)).status).toBe(200);
    const asked = await call<Approval>(asker!.asRun, 'POST', `/api/v1/runs/${asker!.run.id}/approvals`, { title: 'Refund 49 EUR?' });
    expect(asked.status, JSON.stringify(asked.body)).toBe(201);
    expectProblem(await checkout(rival!.asRun, task.id), 409, 'task-checked-out');
    expect((await call(app, 'POST', `/api/v1/approvals/${asked.body.id}/decisions`, { outcome: 'approve' })).status).toBe(200);
    expectProblem(await checkout(rival!.asRun, task.id), 409, 'task-checked-out');
    const resumed = await claim(asker!.rc, asker!.runner.id);
    expect(resumed.run.id).toBe(asker!.run.id);
    expect((await getTask(task.id)).checkout).toMatchObject({ runId: asker!.run.id, fencingToken: resumed.lease.fencingToken });
    const asResumed = { baseUrl: running.baseUrl, key: resumed.runToken.token };
    expect((await move(asResumed, task.id, 'done')).status).toBe(200);
  });

  it('is refused for a blocked task, a task in backlog, and to anyone but a run', async () => {
    const [r] = await claimedRuns(1);
    const blocker = await newTask();
    const blocked = await newTask({ blockedBy: [blocker.id] });
    expect(expectProblem(await checkout(r!.asRun, blocked.id), 409, 'task-blocked').blockedBy).toEqual([blocker.id]);
    expectProblem(await checkout(r!.asRun, (await newTask({ status: 'backlog' })).id), 409, 'invalid-transition', 'backlog');
    expect((await checkout(app, blocker.id)).status).toBe(401);
  });

  it('can be given up by its run, or taken from it by a person', async () => {
    const [r] = await claimedRuns(1);
    const task = await newTask();
    await checkout(r!.asRun, task.id);
    const released = await call<Task>(r!.asRun, 'POST', `/api/v1/tasks/${task.id}/release`);
    expect(released.status, JSON.stringify(released.body)).toBe(200);
    expect(released.body).toMatchObject({ status: 'todo', checkout: null });
    await checkout(r!.asRun, task.id);
    expect((await call<Task>(app, 'POST', `/api/v1/tasks/${task.id}/release`)).body).toMatchObject({ status: 'todo', checkout: null });
    expectProblem(await call(app, 'POST', `/api/v1/tasks/${task.id}/release`), 409, 'invalid-transition', 'todo');
    expectProblem(await call(r!.asRun, 'DELETE', `/api/v1/tasks/${task.id}`), 403, 'forbidden');
  });
});
