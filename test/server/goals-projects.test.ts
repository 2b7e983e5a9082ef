import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { call, expectInvalidTransition, expectProblem, isolatedApp, newAgent, type Conn } from './run-helpers.js';

type Task = components['schemas']['Task'];
type Goal = components['schemas']['Goal'];
type Project = components['schemas']['Project'];

let conn: Conn;
let agentId: string;

beforeAll(async () => {
  const app = await isolatedApp('planning');
  conn = { baseUrl: inject('serverUrl'), key: app.key };
  agentId = (await newAgent(conn)).id;
});

const created = async <T>(path: string, body: Record<string, unknown>): Promise<T> => {
  const r = await call<T>(conn, 'POST', path, body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
};
const newGoal = (body: Record<string, unknown>) => created<Goal>('/api/v1/goals', body);
const newProject = (body: Record<string, unknown>) => created<Project>('/api/v1/projects', body);
const newTask = (body: Record<string, unknown>) => created<Task>('/api/v1/tasks', { title: 'work', status: 'todo', ...body });
const move = async (id: string, ...path: string[]) => {
  for (const to of path) expect((await call(conn, 'POST', `/api/v1/tasks/${id}/transitions`, { to })).status).toBe(200);
};
const read = async <T>(path: string) => (await call<T>(conn, 'GET', path)).body;
const counts = (p: Goal['progress']) => ({ total: p.total, percentDone: p.percentDone, blocked: p.blocked, done: p.tasks.done, cancelled: p.tasks.cancelled });

describe('goals and projects', () => {
  it('roll up the tasks under them: by status, percent done of those not cancelled, blocked, each task once', async () => {
    const company = await newGoal({ title: 'Refunds within a day', status: 'active', owner: { type: 'agent', id: agentId }, targetDate: '2026-12-31' });
    expect(company).toMatchObject({ object: 'goal', status: 'active', parentId: null, targetDate: '2026-12-31' });
    expect(company.progress).toEqual({
      tasks: { backlog: 0, todo: 0, in_progress: 0, in_review: 0, done: 0, blocked: 0, cancelled: 0 },
      total: 0,
      percentDone: null,
      blocked: 0,
      lastActivityAt: null,
    });
    const team = await newGoal({ title: 'Damaged parcels first', parentId: company.id });
    const project = await newProject({ name: 'Damaged parcels', goalId: team.id, lead: { type: 'agent', id: agentId } });
    expect(project).toMatchObject({ object: 'project', status: 'planned', goalId: team.id });

    const paid = await newTask({ projectId: project.id });
    await move(paid.id, 'in_progress', 'done');
    const paying = await newTask({ projectId: project.id });
    await move(paying.id, 'in_progress');
    const waiting = await newTask({ projectId: project.id, blockedBy: [paying.id] });
    const stuck = await newTask({ goalId: company.id });
    await move(stuck.id, 'blocked');
    const dropped = await newTask({ goalId: team.id });
    await move(dropped.id, 'cancelled');
    const both = await newTask({ projectId: project.id, goalId: team.id });

    expect(counts((await read<Project>(`/api/v1/projects/${project.id}`)).progress)).toEqual({ total: 4, percentDone: 25, blocked: 1, done: 1, cancelled: 0 });
    expect(counts((await read<Goal>(`/api/v1/goals/${team.id}`)).progress)).toEqual({ total: 5, percentDone: 25, blocked: 1, done: 1, cancelled: 1 });
    const rolled = (await read<Goal>(`/api/v1/goals/${company.id}`)).progress;
    expect(counts(rolled)).toEqual({ total: 6, percentDone: 20, blocked: 2, done: 1, cancelled: 1 });
    expect(rolled.tasks).toMatchObject({ todo: 2, in_progress: 1, blocked: 1 });
    const latest = await read<Task>(`/api/v1/tasks/${both.id}`);
    expect(rolled.lastActivityAt).toBe(latest.updatedAt);

    // The blocker done, the waiting task can start: nothing is blocked under the project.
    await move(paying.id, 'done');
    expect(counts((await read<Project>(`/api/v1/projects/${project.id}`)).progress)).toEqual({ total: 4, percentDone: 50, blocked: 0, done: 2, cancelled: 0 });
    expect((await read<{ data: Task[] }>(`/api/v1/tasks?projectId=${project.id}&pageSize=100`)).data.map((t) => t.id).sort()).toEqual(
      [paid.id, paying.id, waiting.id, both.id].sort(),
    );
    expect((await read<{ data: Task[] }>(`/api/v1/tasks?goalId=${team.id}`)).data.map((t) => t.id).sort()).toEqual([dropped.id, both.id].sort());

    // Lists carry the roll-up too, and filter.
    const goals = await read<{ data: Goal[] }>('/api/v1/goals?parentId=none');
    expect(goals.data.map((g) => g.id)).toEqual([company.id]);
    expect(goals.data[0]!.progress.total).toBe(6);
    expect((await read<{ data: Goal[] }>(`/api/v1/goals?parentId=${company.id}`)).data.map((g) => g.id)).toEqual([team.id]);
    expect((await read<{ data: Goal[] }>(`/api/v1/goals?owner=${agentId}`)).data.map((g) => g.id)).toEqual([company.id]);
    const projects = await read<{ data: Project[] }>(`/api/v1/projects?goalId=${team.id}`);
    expect(projects.data.map((p) => [p.id, p.progress.percentDone])).toEqual([[project.id, 50]]);

    // Deleting the team goal unlinks its project and tasks: the company goal keeps only its own.
    expect((await call(conn, 'DELETE', `/api/v1/goals/${team.id}`)).status).toBe(204);
    expect((await read<Project>(`/api/v1/projects/${project.id}`)).goalId).toBeNull();
    expect((await read<Task>(`/api/v1/tasks/${dropped.id}`)).goalId).toBeNull();
    expect(counts((await read<Goal>(`/api/v1/goals/${company.id}`)).progress)).toEqual({ total: 1, percentDone: 0, blocked: 1, done: 0, cancelled: 0 });
    expect((await call(conn, 'DELETE', `/api/v1/projects/${project.id}`)).status).toBe(204);
    expect((await read<Task>(`/api/v1/tasks/${paid.id}`)).projectId).toBeNull();
  });

  it('lose a deleted agent as owner, lead or assignee', async () => {
    const temp = await newAgent(conn);
    const goal = await newGoal({ title: 'Owned', owner: { type: 'agent', id: temp.id } });
    const project = await newProject({ name: 'Led', lead: { type: 'agent', id: temp.id } });
    const task = await newTask({ assignee: { type: 'agent', id: temp.id } });
    expect((await call(conn, 'DELETE', `/api/v1/agents/${temp.id}`)).status).toBe(204);
    expect((await read<Goal>(`/api/v1/goals/${goal.id}`)).owner).toBeNull();
    expect((await read<Project>(`/api/v1/projects/${project.id}`)).lead).toBeNull();
    expect((await read<Task>(`/api/v1/tasks/${task.id}`)).assignee).toBeNull();
  });

  it('move along their status tables, never make a cycle, and name only what the application has', async () => {
    const goal = await newGoal({ title: 'Faster refunds' });
    expectInvalidTransition(await call(conn, 'PATCH', `/api/v1/goals/${goal.id}`, { status: 'achieved' }), 'planned');
    expect((await call<Goal>(conn, 'PATCH', `/api/v1/goals/${goal.id}`, { status: 'active' })).body.status).toBe('active');
    expect((await call<Goal>(conn, 'PATCH', `/api/v1/goals/${goal.id}`, { status: 'achieved', targetDate: null })).body).toMatchObject({
      status: 'achieved',
      targetDate: null,
    });
    const project = await newProject({ name: 'Refund bot' });
    expectInvalidTransition(await call(conn, 'PATCH', `/api/v1/projects/${project.id}`, { status: 'completed' }), 'planned');
    expect((await call<Project>(conn, 'PATCH', `/api/v1/projects/${project.id}`, { status: 'active', goalId: goal.id })).body).toMatchObject({
      status: 'active',
      goalId: goal.id,
    });

    const child = await newGoal({ title: 'Child', parentId: goal.id });
    const grandchild = await newGoal({ title: 'Grandchild', parentId: child.id });
    expectProblem(await call(conn, 'PATCH', `/api/v1/goals/${goal.id}`, { parentId: goal.id }), 422, 'validation-error', 'itself');
    expectProblem(await call(conn, 'PATCH', `/api/v1/goals/${goal.id}`, { parentId: grandchild.id }), 422, 'validation-error', 'sub-goals');

    const absentGoal = 'goal_01jd4x7p2kf8q6v3b9m5t0s1ab';
    const absentProject = 'proj_01jd4x7p2kf8q6v3b9m5t0s1ab';
    expectProblem(await call(conn, 'POST', '/api/v1/goals', { title: 'x', parentId: absentGoal }), 404, 'not-found', absentGoal);
    expectProblem(await call(conn, 'POST', '/api/v1/projects', { name: 'x', goalId: absentGoal }), 404, 'not-found', absentGoal);
    expectProblem(await call(conn, 'POST', '/api/v1/tasks', { title: 'x', projectId: absentProject }), 404, 'not-found', absentProject);
    expectProblem(await call(conn, 'POST', '/api/v1/tasks', { title: 'x', goalId: absentGoal }), 404, 'not-found', absentGoal);
    expectProblem(await call(conn, 'POST', '/api/v1/goals', { title: 'x', owner: { type: 'user', id: agentId } }), 422, 'validation-error');
    expectProblem(await call(conn, 'POST', '/api/v1/projects', { name: 'x', targetDate: '2026-13-01' }), 422, 'validation-error');
  });
});
