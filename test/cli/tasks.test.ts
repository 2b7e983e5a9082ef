import { beforeAll, afterAll, describe, expect, inject, it } from 'vitest';
import { call, label, newAgent, type Conn } from '../server/run-helpers.js';
import { personalToken, signUp } from '../support/people.js';
import { cli, json, keepSecret, REQUEST_ID, tempHome } from './cli-helpers.js';

type Task = {
  id: string;
  number: number;
  title: string;
  description: string | null;
  status: string;
  priority: string;
  labels: string[];
  assignee: { type: string; id: string } | null;
  metadata: Record<string, string>;
  completedAt: string | null;
};

let conn: Conn;
let agentId: string;
let userId: string;
let h: ReturnType<typeof tempHome>;
let env: Record<string, string>;

/** A person (so that a task can be assigned to a user), acting in their own application with a personal token. */
beforeAll(async () => {
  const baseUrl = inject('serverUrl');
  const person = await signUp(baseUrl, { name: 'Tess Tasks' });
  userId = person.userId;
  const apps = (await (await person.browser.fetch('/api/v1/applications')).json()) as { data: { id: string }[] };
  const appId = apps.data[0]!.id;
  const token = await personalToken(person);
  keepSecret(token);
  conn = { baseUrl, key: token, headers: { 'X-App-Id': appId } };
  agentId = (await newAgent(conn)).id;
  h = tempHome();
  env = { ...h.env, SWITCHBOARD_BASE_URL: baseUrl, SWITCHBOARD_API_KEY: token, SWITCHBOARD_APP_ID: appId };
});
afterAll(() => h?.cleanup());

const run = (args: string[], input?: string) => cli(args, { env, input });

const newTask = async (body: Record<string, unknown>) => {
  const r = await call<Task>(conn, 'POST', '/api/v1/tasks', body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
};
const listed = async (args: string[]) => json<{ data: Task[] }>(await run(['tasks', 'list', ...args, '--json'])).data.map((t) => t.id);

describe('switchboard tasks', () => {
  it('creates a task with labels, an assignee and a priority, and gets it', async () => {
    const mineRun = run(['tasks', 'create', 'Check the carrier claim', '--assignee', userId]);
    const created = json<Task>(
      await run(
        [
          'tasks',
          'create',
          'Refund order 10-2291',
          '--description',
          '-',
          '--status',
          'todo',
          '--priority',
          'high',
          '--label',
          'billing',
          '--label',
          'refunds,eu',
          '--assignee',
          agentId,
          '--metadata',
          'ticket=T-42',
          '--json',
        ],
        'The parcel arrived **damaged**.\n\nRefund it in full.',
      ),
    );
    expect(created).toMatchObject({
      id: expect.stringMatching(/^task_/),
      title: 'Refund order 10-2291',
      description: 'The parcel arrived **damaged**.\n\nRefund it in full.',
      status: 'todo',
      priority: 'high',
      labels: ['billing', 'refunds', 'eu'],
      assignee: { type: 'agent', id: agentId },
      metadata: { ticket: 'T-42' },
    });

    const mine = await mineRun;
    expect(mine.code, mine.stderr).toBe(0);
    expect(mine.stdout).toMatch(/^status:\s+backlog$/m);
    expect(mine.stdout).toMatch(/^priority:\s+medium$/m);
    expect(mine.stdout).toContain(`{"type":"user","id":"${userId}"}`);

    const shown = await run(['tasks', 'get', created.id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^id:\\s+${created.id}$`, 'm'));
    expect(shown.stdout).toMatch(/^number:\s+\d+$/m);
    expect(shown.stdout).toMatch(/^labels:\s+billing, refunds, eu$/m);
    expect(shown.stdout).toContain('The parcel arrived **damaged**.');
  });

  it('lists with filters (status, assignee, q), as a table and as JSON', async () => {
    const tag = label();
    const refund = await newTask({
      title: 'Refund damaged parcel',
      status: 'todo',
      priority: 'urgent',
      labels: [tag],
      assignee: { type: 'agent', id: agentId },
    });
    const claim = await newTask({ title: 'File the carrier claim', labels: [tag], assignee: { type: 'user', id: userId } });
    const loose = await newTask({ title: 'Reply to the customer', status: 'todo', labels: [tag] });

    // Read-only, so all at once.
    const [table, byStatus, byAgent, byUser, unassigned, byWords, none] = await Promise.all([
      run(['tasks', 'list', '--label', tag, '--status', 'todo,in_progress', '--sort', 'number']),
      listed(['--label', tag, '--status', 'backlog']),
      listed(['--label', tag, '--assignee', agentId]),
      listed(['--label', tag, '--assignee', userId]),
      listed(['--label', tag, '--assignee', 'none']),
      listed(['--label', tag, '-q', 'carrier cla']),
      run(['tasks', 'list', '--label', tag, '--priority', 'low']),
    ]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^#\s+ID\s+STATUS\s+PRIORITY\s+TITLE\s+ASSIGNEE$/);
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(new RegExp(`^${refund.number}\\s+${refund.id}\\s+todo\\s+urgent\\s+Refund damaged parcel\\s+${agentId}$`)),
      expect.stringMatching(new RegExp(`^${loose.number}\\s+${loose.id}\\s+todo\\s+medium\\s+Reply to the customer\\s+-$`)),
    ]);
    expect(byStatus).toEqual([claim.id]);
    expect(byAgent).toEqual([refund.id]);
    expect(byUser).toEqual([claim.id]);
    expect(unassigned).toEqual([loose.id]);
    expect(byWords).toEqual([claim.id]);
    expect(none.stdout).toBe('No tasks.\n');
  });

  it('moves along the allowed statuses; a refused move prints the problem and exits 1', async () => {
    const task = await newTask({ title: 'Ship the fix', status: 'todo' });
    const unknown = run(['tasks', 'move', task.id, 'finished']); // a usage error: no request, so alongside the rest
    const started = await run(['tasks', 'move', task.id, 'in_progress']);
    expect(started.code, started.stderr).toBe(0);
    expect(started.stdout).toMatch(/^status:\s+in_progress$/m);
    const done = json<Task>(await run(['tasks', 'move', task.id, 'done', '--json']));
    expect(done.status).toBe('done');
    expect(done.completedAt).not.toBeNull();

    const refused = await run(['tasks', 'move', task.id, 'in_review']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain('switchboard: Invalid state transition: A task that is done cannot move to in_review; from done it can move to todo');
    expect(refused.stderr).toMatch(REQUEST_ID);

    const usage = await unknown;
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('must be one of: backlog, todo, in_progress');
  });

  it('assigns to an agent or a person by the id prefix, and unassigns with none', async () => {
    const task = await newTask({ title: 'Triage the inbox' });
    const wrong = run(['tasks', 'assign', task.id, 'bob']); // a usage error: no request, so alongside the rest
    expect(json<Task>(await run(['tasks', 'assign', task.id, agentId, '--json'])).assignee).toEqual({ type: 'agent', id: agentId });
    expect(json<Task>(await run(['tasks', 'assign', task.id, userId, '--json'])).assignee).toEqual({ type: 'user', id: userId });
    const unassigned = await run(['tasks', 'assign', task.id, 'none']);
    expect(unassigned.code, unassigned.stderr).toBe(0);
    expect(unassigned.stdout).toMatch(/^assignee:\s+-$/m);
    expect(json<Task>(await run(['tasks', 'get', task.id, '--json'])).assignee).toBeNull();

    const usage = await wrong;
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('must be an agent (agent_...), a person (user_...) or none');
  });

  it('comments on a task (mentions listed) and lists its comments, oldest first', async () => {
    const task = await newTask({ title: 'Comment on me', status: 'todo' });
    const first = json<{ id: string; mentions: string[]; author: { type: string } }>(
      await run(['tasks', 'comment', task.id, `@${agentId} can you check the carrier claim?`, '--json']),
    );
    expect(first.mentions).toEqual([agentId]);
    expect(first.author.type).toBe('user');
    await run(['tasks', 'comment', task.id, '-'], 'Second, from stdin.');
    const table = await run(['tasks', 'comments', task.id]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CREATED\s+AUTHOR\s+COMMENT/);
    expect(lines.slice(1).map((l) => (l.includes('carrier claim') ? 'first' : l.includes('Second, from stdin.') ? 'second' : l))).toEqual(['first', 'second']);
  });
});
