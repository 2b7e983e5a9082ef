import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Switchboard, SwitchboardError, type Task } from '@switchboard/sdk';
import { llmRuntime, type RunContext } from '@switchboard/sdk/runner';
import type { InProcessServer } from '../support/in-process-server.js';
import type { TestProvider } from '../support/test-provider.js';
import { lastChatRequest, resultOf, settledRun, startLlmRuntime, type LlmRuntime } from './llm-helpers.js';

/**
 * The `llm` runtime's built-in task tools, end to end: an agent against the test provider (behind
 * the gateway), run by the built-in runner, lists its tasks, takes one (checked out by its run),
 * hands it over for review, comments and creates a follow-up, all as the run; what the server
 * refuses is told to the model, and the run goes on.
 */
let llm: LlmRuntime;
let running: InProcessServer;
let provider: TestProvider;
let sb: Switchboard;
let tag: string;

const TASK_TOOLS = ['list_tasks', 'create_task', 'update_task', 'comment_on_task'];

beforeAll(async () => {
  llm = await startLlmRuntime('task-worker');
  ({ running, provider, sb, tag } = llm);
});
afterAll(async () => llm?.stop());

const taskAgent = (name: string) =>
  sb.agents.create({
    name,
    model: 'assistant',
    instructions: 'You work on your tasks.',
    labels: [tag],
    tools: TASK_TOOLS.map((n) => ({ kind: 'builtin', name: n })),
  });

describe('task tools in the llm runtime', () => {
  it('lists its tasks, takes one (checked out by its run), hands it over for review, comments and creates a follow-up, all as the run', async () => {
    const agent = await taskAgent('task-worker');
    const other = await sb.agents.create({ name: 'someone else', model: 'assistant', labels: ['nobody'] });
    const mine = { type: 'agent' as const, id: agent.id };
    const urgent = await sb.tasks.create({ title: 'Refund order 10-2291', description: 'x'.repeat(1000), status: 'todo', priority: 'urgent', assignee: mine });
    const low = await sb.tasks.create({ title: 'Tidy the refunds macro', status: 'todo', priority: 'low', assignee: mine, labels: ['refunds'] });
    await sb.tasks.create({ title: 'Nobody’s', status: 'todo' });
    await sb.tasks.create({ title: 'Not mine', status: 'todo', assignee: { type: 'agent', id: other.id } });
    await sb.tasks.create({ title: 'Mine, not ready', status: 'backlog', assignee: mine });

    let listed: Record<string, any> | undefined;
    let started: Record<string, any> | undefined;
    let whileWorking: Task | undefined;
    provider.reply(
      { toolCalls: [{ id: 'call_list', name: 'list_tasks', arguments: { assignee: 'me', status: ['todo'] } }] },
      (request) => {
        listed = resultOf(request, 'call_list');
        return { toolCalls: [{ id: 'call_start', name: 'update_task', arguments: { taskId: listed?.tasks[0].id, status: 'in_progress' } }] };
      },
      async (request) => {
        started = resultOf(request, 'call_start');
        whileWorking = await sb.tasks.get(urgent.id);
        return {
          toolCalls: [
            { id: 'call_review', name: 'update_task', arguments: { taskId: urgent.id, status: 'in_review', labels: ['refunds'] } },
            { id: 'call_comment', name: 'comment_on_task', arguments: { taskId: urgent.id, body: 'Refunded 49.00 EUR; please check.' } },
            { id: 'call_create', name: 'create_task', arguments: { title: 'Ask the carrier about 10-2291', assignee: 'me', status: 'todo', priority: 'high' } },
          ],
        };
      },
      { text: 'Refund done and handed over for review.' },
    );
    const first = provider.requests.length;
    const run = await sb.runs.create({ agentId: agent.id, input: { prompt: 'Work on your tasks.' } });
    expect((await settledRun(sb, run.id)).status).toBe('succeeded');

    // The model was offered the four tools with their arguments.
    const offered = (provider.requests[first]!.body as { tools: { function: { name: string; parameters: { properties: Record<string, any> } } }[] }).tools;
    expect(offered.map((t) => t.function.name)).toEqual(TASK_TOOLS);
    expect(offered[2]!.function.parameters.properties.status.enum).toContain('in_review');

    // Its open tasks, most urgent first, compact, "me" as their assignee, the description shortened.
    expect(listed).toMatchObject({
      total: 2,
      tasks: [
        { id: urgent.id, status: 'todo', priority: 'urgent', assignee: 'me' },
        { id: low.id, labels: ['refunds'] },
      ],
    });
    expect(Object.keys(listed!.tasks[0]).sort()).toEqual([
      'assignee',
      'blockedBy',
      'description',
      'dueAt',
      'id',
      'labels',
      'number',
      'priority',
      'status',
      'title',
    ]);
    expect(listed!.tasks[0].description.length).toBeLessThan(300);
    // Moved to in_progress, the task was checked out by the run.
    expect(started).toMatchObject({ applied: ['status'], task: { status: 'in_progress', checkedOutBy: 'me' } });
    expect(whileWorking).toMatchObject({ status: 'in_progress', checkout: { runId: run.id } });

    const done = lastChatRequest(provider);
    expect(resultOf(done, 'call_review')).toMatchObject({ applied: ['labels', 'status'], task: { status: 'in_review', labels: ['refunds'] } });
    expect(resultOf(done, 'call_comment')).toMatchObject({ commented: { taskId: urgent.id } });
    const followUp = resultOf(done, 'call_create')!.created as { id: string };

    // Through the API: in review, no longer checked out, the comment and the follow-up the run's.
    expect(await sb.tasks.get(urgent.id)).toMatchObject({ status: 'in_review', checkout: null, labels: ['refunds'] });
    expect((await sb.tasks.get(urgent.id)).startedAt).not.toBeNull();
    const comments = (await sb.tasks.comments.list(urgent.id)).data;
    expect(comments.map((c) => [c.body, c.author])).toEqual([['Refunded 49.00 EUR; please check.', { type: 'run', id: run.id }]]);
    expect(await sb.tasks.get(followUp.id)).toMatchObject({ status: 'todo', priority: 'high', assignee: mine, createdBy: { type: 'run', id: run.id } });
    const audited = (await sb.auditEvents.list({ runId: run.id, action: 'task.' })).data;
    expect(audited.length).toBeGreaterThanOrEqual(5);
    for (const event of audited) expect(event.actor).toMatchObject({ type: 'run', id: run.id });
    expect(new Set(audited.map((e) => e.action))).toEqual(new Set(['task.transition', 'task.update', 'task.comment', 'task.create']));
  });

  it('tells the model what the server refused (held by another run, blocked, a move not allowed after a patch) and the run still succeeds', async () => {
    const agent = await taskAgent('refused-worker');
    // Another run, claimed by a runner of its own, holds one task.
    const otherTag = `${tag}-other`;
    const otherAgent = await sb.agents.create({ name: 'holder', model: 'assistant', labels: [otherTag] });
    const otherRunner = await sb.runners.register({ name: 'holder-runner', labels: [otherTag] });
    const otherRun = await sb.runs.create({ agentId: otherAgent.id, input: {} });
    const claim = (await new Switchboard({ baseUrl: running.baseUrl, apiKey: otherRunner.token }).runners.claim(otherRunner.id, { wait: 0 }))!;
    expect(claim.run.id).toBe(otherRun.id);
    const held = await sb.tasks.create({ title: 'Held elsewhere', status: 'todo' });
    await new Switchboard({ baseUrl: running.baseUrl, apiKey: claim.runToken.token }).tasks.checkout(held.id);
    const blocker = await sb.tasks.create({ title: 'First this', status: 'todo' });
    const blocked = await sb.tasks.create({ title: 'Then this', status: 'todo', blockedBy: [blocker.id] });
    const parked = await sb.tasks.create({ title: 'Parked', status: 'backlog' });

    provider.reply(
      {
        toolCalls: [
          { id: 'call_held', name: 'update_task', arguments: { taskId: held.id, status: 'in_progress' } },
          { id: 'call_blocked', name: 'update_task', arguments: { taskId: blocked.id, status: 'in_progress' } },
          { id: 'call_skip', name: 'update_task', arguments: { taskId: parked.id, title: 'Parked for now', status: 'done' } },
          { id: 'call_bad', name: 'update_task', arguments: { taskId: parked.id, assignee: 'somebody' } },
          { id: 'call_missing', name: 'comment_on_task', arguments: { taskId: 'task_01jd4x7p2kf8q6v3b9m5t0s1ab', body: 'Hello?' } },
        ],
      },
      { text: 'Those are taken or waiting; nothing to do.' },
    );
    const run = await sb.runs.create({ agentId: agent.id, input: { prompt: 'Take a task.' } });
    expect(await settledRun(sb, run.id)).toMatchObject({ status: 'succeeded', output: { text: 'Those are taken or waiting; nothing to do.' } });

    const told = lastChatRequest(provider);
    expect(resultOf(told, 'call_held')).toMatchObject({ code: 'task-checked-out', checkoutRunId: otherRun.id, hint: expect.stringMatching(/another task/) });
    expect(resultOf(told, 'call_held')!.error).toMatch(/checked out by run/);
    expect(resultOf(told, 'call_blocked')).toMatchObject({ code: 'task-blocked', blockedBy: [blocker.id] });
    expect(resultOf(told, 'call_skip')).toMatchObject({
      code: 'invalid-transition',
      applied: ['title'],
      notApplied: ['status'],
      task: { title: 'Parked for now', status: 'backlog' },
    });
    expect(resultOf(told, 'call_skip')!.error).toMatch(/backlog cannot move to done/);
    expect(resultOf(told, 'call_bad')!.error).toMatch(/assignee must be "me", "none"/);
    expect(resultOf(told, 'call_missing')).toMatchObject({ code: 'not-found' });
    expect(await sb.tasks.get(held.id)).toMatchObject({ status: 'in_progress', checkout: { runId: otherRun.id } });
    expect(await sb.tasks.get(blocked.id)).toMatchObject({ status: 'todo', checkout: null });
  });

  it('a refused run token (401) or a lost lease stops the run at the task tool: the model is not told, the error goes to the worker', async () => {
    const api = 'http://switchboard.invalid';
    for (const [status, code] of [
      [401, 'unauthorized'],
      [409, 'lease-lost'],
    ] as const) {
      // The runtime directly, its API calls answered with the refusal, its model calls by the test provider.
      const refusing: typeof fetch = (input, init) => {
        if (!(input instanceof Request ? input.url : String(input)).startsWith(api)) return fetch(input, init);
        const problem = { type: 'about:blank', title: 'Refused', status, detail: 'The lease has ended.', code, instance: '/', requestId: 'req_x' };
        return Promise.resolve(new Response(JSON.stringify(problem), { status, headers: { 'Content-Type': 'application/problem+json' } }));
      };
      const events: string[] = [];
      const ctx = {
        run: { id: 'run_01jd5a2b3c4d5e6f7g8h9j0k1m', attempt: 1, input: { prompt: 'Work.' } },
        agent: {
          id: 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab',
          name: 'late',
          version: 1,
          instructions: '',
          model: 'test-large',
          modelApi: 'chat',
          tools: [{ kind: 'builtin', name: 'list_tasks' }],
          config: {},
          runtime: 'runner',
          url: null,
          limits: { timeoutSeconds: 60, maxAttempts: 1, maxConcurrentRuns: null },
        },
        lease: {},
        signal: new AbortController().signal,
        runToken: 'sbrt_test-run-token',
        thread: null,
        resume: null,
        log: () => Promise.resolve(),
        emit: (type: string) => Promise.resolve(void events.push(type)),
        requestApproval: () => Promise.reject(new Error('asks nobody')),
      } as unknown as RunContext;
      provider.reply({ toolCalls: [{ id: 'call_late', name: 'list_tasks', arguments: { assignee: 'me' } }] });
      const calls = provider.requests.length;
      const err = await llmRuntime({ baseUrl: api, openaiBaseUrl: provider.openaiBaseUrl, fetch: refusing })(ctx).catch((e: unknown) => e);
      expect(err).toMatchObject({ status, code });
      expect(provider.requests.length - calls).toBe(1);
      expect(events.filter((type) => type !== 'output.delta')).toEqual(['tool.call']);
    }
  });

  it('agent validation: the four task tools are built-in tools without url, inputSchema or approval; an unknown built-in is 422', async () => {
    const agent = await taskAgent('validated');
    expect(agent.tools.map((t) => t.name)).toEqual(TASK_TOOLS);
    const refused = async (tool: Record<string, unknown>) => {
      const err = (await sb.agents.create({ name: 'refused', model: 'assistant', tools: [tool as never] }).catch((e: unknown) => e)) as SwitchboardError;
      expect(err).toBeInstanceOf(SwitchboardError);
      expect(err.status).toBe(422);
      return err.errors.map((e) => [e.pointer, e.detail]);
    };
    expect(await refused({ kind: 'builtin', name: 'delete_tasks' })).toEqual([['/tools/0/name', expect.stringMatching(/comment_on_task/)]]);
    expect(await refused({ kind: 'builtin', name: 'list_tasks', url: 'https://example.com/x' })).toEqual([['/tools/0/url', expect.any(String)]]);
    expect(await refused({ kind: 'builtin', name: 'create_task', inputSchema: { type: 'object' } })).toEqual([['/tools/0/inputSchema', expect.any(String)]]);
    expect(await refused({ kind: 'builtin', name: 'update_task', approval: { expiresInSeconds: 60 } })).toEqual([['/tools/0/approval', expect.any(String)]]);
  });
});
