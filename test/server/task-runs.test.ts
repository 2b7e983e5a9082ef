import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { call, claim, expectProblem, label, newAgent, newRunner, runnerConn, type Conn, type Run } from './run-helpers.js';

type Task = components['schemas']['Task'];
type TaskComment = components['schemas']['TaskComment'];

/** Tasks that start runs, and runs that comment: on a server of the test's own (its runners claim only what it queues). */
let running: InProcessServer;
let app: Conn;

beforeAll(async () => {
  running = await startInProcessServer({ now: () => Date.now() });
  app = { baseUrl: running.baseUrl, key: running.adminKey };
});
afterAll(() => running?.stop());

const newTask = async (body: Record<string, unknown> = {}) => {
  const r = await call<Task>(app, 'POST', '/api/v1/tasks', { title: 'Refund order 10-2291', status: 'todo', ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
};
const runsOf = async (agentId: string) => (await call<{ data: Run[] }>(app, 'GET', `/api/v1/runs?agentId=${agentId}&pageSize=100`)).body.data;
const comment = (as: Conn, taskId: string, body: string) => call<TaskComment>(as, 'POST', `/api/v1/tasks/${taskId}/comments`, { body });

/** An agent only its own runner claims, with what starts its runs. */
async function agentWithRunner(autoStart: { assigned: boolean; mentioned: boolean }) {
  const tag = label();
  const agent = await newAgent(app, { labels: [tag], autoStart });
  expect(agent.autoStart).toEqual(autoStart);
  const runner = await newRunner(app, [tag]);
  return { agent, runner, rc: runnerConn(running.baseUrl, runner) };
}

describe('a task starts a run', () => {
  it('of the agent it is assigned to, when the agent asks for it, with the task as input', async () => {
    const eager = await agentWithRunner({ assigned: true, mentioned: false });
    const idle = await agentWithRunner({ assigned: false, mentioned: false });
    const task = await newTask({ assignee: { type: 'agent', id: eager.agent.id } });
    const [run] = await runsOf(eager.agent.id);
    expect(run).toMatchObject({
      triggeredBy: { type: 'task', id: task.id },
      metadata: { taskId: task.id },
      input: { reason: 'assigned', task: { id: task.id } },
    });
    // The same assignee again starts nothing; another agent that did not ask starts nothing; nor does a done task.
    expect((await call(app, 'PATCH', `/api/v1/tasks/${task.id}`, { title: 'Refund 10-2291 today' })).status).toBe(200);
    expect((await call(app, 'PATCH', `/api/v1/tasks/${task.id}`, { assignee: { type: 'agent', id: idle.agent.id } })).status).toBe(200);
    expect(await runsOf(idle.agent.id)).toHaveLength(0);
    const cancelled = await newTask({ status: 'backlog' });
    await call(app, 'POST', `/api/v1/tasks/${cancelled.id}/transitions`, { to: 'cancelled' });
    await call(app, 'PATCH', `/api/v1/tasks/${cancelled.id}`, { assignee: { type: 'agent', id: eager.agent.id } });
    expect(await runsOf(eager.agent.id)).toHaveLength(1);
    await call(app, 'PATCH', `/api/v1/tasks/${task.id}`, { assignee: { type: 'agent', id: eager.agent.id } });
    expect(await runsOf(eager.agent.id)).toHaveLength(2);
  });

  it('of each agent a comment mentions that asks for it; comments read oldest first', async () => {
    const helper = await agentWithRunner({ assigned: false, mentioned: true });
    const quiet = await agentWithRunner({ assigned: false, mentioned: false });
    const task = await newTask();
    const absent = 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab';
    const first = await comment(app, task.id, `@${helper.agent.id} and @${quiet.agent.id}, see @${absent}; again @${helper.agent.id}.`);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body).toMatchObject({ object: 'task_comment', mentions: [helper.agent.id, quiet.agent.id], author: { type: 'api_key' } });
    expect(first.body.startedRunIds).toHaveLength(1);
    const [run] = await runsOf(helper.agent.id);
    expect(run!.id).toBe(first.body.startedRunIds[0]);
    expect(run!.input).toMatchObject({ reason: 'mentioned', task: { id: task.id }, comment: { id: first.body.id } });
    expect(await runsOf(quiet.agent.id)).toHaveLength(0);
    await comment(app, task.id, 'Second.');
    const listed = await call<{ data: TaskComment[] }>(app, 'GET', `/api/v1/tasks/${task.id}/comments`);
    expect(listed.body.data.map((c) => c.body)).toEqual([first.body.body, 'Second.']);
    expectProblem(await comment(app, 'task_01jd4x7p2kf8q6v3b9m5t0s1ab', 'x'), 404, 'not-found');
  });

  it("from a run's comment, never of the run's own agent, and no deeper than 5 runs", async () => {
    const a = await agentWithRunner({ assigned: false, mentioned: true });
    const b = await agentWithRunner({ assigned: false, mentioned: true });
    const task = await newTask();
    const kickoff = await comment(app, task.id, `@${a.agent.id} start`);
    expect(kickoff.body.startedRunIds).toHaveLength(1);
    // Each run mentions the other agent (and its own): a ping-pong that stops 5 runs deep.
    let turn = a;
    let other = b;
    const depths: number[] = [];
    for (let i = 0; i < 7; i++) {
      const c = await claim(turn.rc, turn.runner.id);
      if (!c) break;
      depths.push((c.run.input as { depth: number }).depth);
      const asRun = { baseUrl: running.baseUrl, key: c.runToken.token };
      const said = await comment(asRun, task.id, `@${other.agent.id} your turn; @${turn.agent.id} noted.`);
      expect(said.status, JSON.stringify(said.body)).toBe(201);
      expect(said.body.author).toEqual({ type: 'run', id: c.run.id });
      expect(said.body.mentions).toEqual([other.agent.id, turn.agent.id]);
      if (!said.body.startedRunIds.length) break;
      expect((await call<Run>(app, 'GET', `/api/v1/runs/${said.body.startedRunIds[0]}`)).body.agentId).toBe(other.agent.id);
      [turn, other] = [other, turn];
    }
    expect(depths).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
