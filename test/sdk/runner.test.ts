import { createServer, type Server } from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Switchboard } from '@switchboard/sdk';
import { ownApp, sleep, token, uniqueName, until } from './helpers.js';

let sb: Switchboard;
type Worker = Awaited<ReturnType<Switchboard['runners']['work']>>;
const workers: Worker[] = [];
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  ({ sb } = await ownApp('sdk runner'));
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop(1_000)));
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

const newLabel = () => `l-${token()}`;

async function work(options: Parameters<Switchboard['runners']['work']>[0], handler: Parameters<Switchboard['runners']['work']>[1]) {
  const worker = await sb.runners.work(options, handler);
  workers.push(worker);
  return worker;
}

/** A receiver on loopback that answers with the JSON it was sent, and counts connections. */
async function receiver() {
  let connections = 0;
  const bodies: unknown[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(raw));
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ received: JSON.parse(raw), runId: req.headers['switchboard-run-id'] }));
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  cleanups.push(() => new Promise((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${port}/agent`, bodies, connections: () => connections };
}

describe('runners.work from the Node entry', () => {
  it('exists on the Node client', () => {
    expect(typeof sb.runners.work).toBe('function');
  });

  it('executes runs two at a time: output set from the handler, ctx.log events stored', async () => {
    const label = newLabel();
    const errors: unknown[] = [];
    let active = 0;
    let maxActive = 0;
    let bothStarted!: () => void;
    const twoAtOnce = new Promise<void>((r) => (bothStarted = r));
    const worker = await work({ labels: [label], concurrency: 2, name: uniqueName('sdk worker'), onError: (e) => errors.push(e) }, async (run, ctx) => {
      active++;
      maxActive = Math.max(maxActive, active);
      if (active >= 2) bothStarted();
      // Each run waits (bounded) until two are in progress at once.
      await Promise.race([twoAtOnce, sleep(10_000)]);
      await ctx.log('x');
      active--;
      return { doubled: (run.input.n as number) * 2 };
    });
    expect(worker.runnerId).toMatch(/^runner_/);
    const registered = await sb.runners.list({ label });
    expect(registered.data.map((r) => r.id)).toEqual([worker.runnerId]);

    const agent = await sb.agents.create({ name: uniqueName('doubler'), model: 'gpt-4.1', labels: [label] });
    const runs = await Promise.all([21, 5].map((n) => sb.runs.createAndWait({ agentId: agent.id, input: { n } })));

    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    expect(runs.map((r) => r.output)).toEqual([{ doubled: 42 }, { doubled: 10 }]);
    expect(maxActive).toBe(2);
    for (const run of runs) {
      const events = (await sb.runs.events(run.id)).data;
      const logs = events.filter((e) => e.type === 'log');
      expect(logs).toHaveLength(1);
      expect(logs[0]!.data).toMatchObject({ level: 'info', message: 'x' });
      expect(events.filter((e) => e.type === 'status').map((e) => e.data.status)).toEqual(['queued', 'running', 'succeeded']);
    }
    expect(errors).toEqual([]);
  });

  it('a handler that throws fails the run with error.code runner_error and its message', async () => {
    const label = newLabel();
    await work({ labels: [label] }, async () => {
      throw new Error('kaboom');
    });
    const agent = await sb.agents.create({ name: uniqueName('thrower'), model: 'gpt-4.1', labels: [label] });
    const run = await sb.runs.createAndWait({ agentId: agent.id });
    expect(run.status).toBe('failed');
    expect(run.error).toEqual({ code: 'runner_error', message: 'kaboom' });
  });

  it('ctx.requestApproval: the run waits while the worker takes other runs; once approved with an edit it runs again with ctx.resume', async () => {
    const label = newLabel();
    const executions: { runId: string; resume: unknown }[] = [];
    const errors: unknown[] = [];
    await work({ labels: [label], onError: (e) => errors.push(e) }, async (run, ctx) => {
      executions.push({ runId: run.id, resume: ctx.resume });
      if ((run.input as { quick?: boolean }).quick) return { quick: true };
      if (!ctx.resume) {
        await ctx.requestApproval({
          title: 'Refund 49.00 EUR?',
          payload: { amountMinor: 4900 },
          payloadSchema: { type: 'object', properties: { amountMinor: { type: 'integer', maximum: 4900 } } },
        });
      }
      return { approved: ctx.resume!.status === 'approved', refunded: ctx.resume!.payload.amountMinor };
    });
    const agent = await sb.agents.create({ name: uniqueName('asker'), model: 'gpt-4.1', labels: [label] });
    const run = await sb.runs.create({ agentId: agent.id });
    await until(async () => (await sb.runs.get(run.id)).status === 'waiting', 'the run waits');
    // The worker is free: another run of the agent is executed meanwhile.
    const quick = await sb.runs.createAndWait({ agentId: agent.id, input: { quick: true } });
    expect(quick).toMatchObject({ status: 'succeeded', output: { quick: true } });
    const [pending] = (await sb.inbox.list({ agentId: agent.id })).data;
    expect(pending).toMatchObject({ runId: run.id, title: 'Refund 49.00 EUR?', status: 'pending' });
    await sb.approvals.decide(pending!.id, { outcome: 'approve', editedPayload: { amountMinor: 2500 } });
    await until(async () => (await sb.runs.get(run.id)).status === 'succeeded', 'the run resumes and succeeds');
    expect((await sb.runs.get(run.id)).output).toEqual({ approved: true, refunded: 2500 });
    const ofRun = executions.filter((e) => e.runId === run.id);
    expect(ofRun.map((e) => (e.resume as { status?: string } | null)?.status ?? null)).toEqual([null, 'approved']);
    expect(errors).toEqual([]);
  });

  it('executes an http agent itself (POST to its url) when allowed to call private addresses; the handler is not called', async () => {
    const label = newLabel();
    const target = await receiver();
    let handlerCalls = 0;
    await work({ labels: [label], http: { allowPrivateAddresses: true } }, async () => {
      handlerCalls++;
      return {};
    });
    const agent = await sb.agents.create({ name: uniqueName('http agent'), model: 'remote', runtime: 'http', url: target.url, labels: [label] });
    const run = await sb.runs.createAndWait({ agentId: agent.id, input: { city: 'Paris' } });
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ received: { city: 'Paris' }, runId: run.id });
    expect(target.bodies).toEqual([{ city: 'Paris' }]);
    expect(handlerCalls).toBe(0);
  });

  it('refuses an http agent on loopback by default, without connecting', async () => {
    const label = newLabel();
    const target = await receiver();
    await work({ labels: [label] }, async () => ({}));
    const agent = await sb.agents.create({ name: uniqueName('private http agent'), model: 'remote', runtime: 'http', url: target.url, labels: [label] });
    const run = await sb.runs.createAndWait({ agentId: agent.id });
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('http_error');
    expect(target.connections()).toBe(0);
  });

  it('stop() lets the run in progress finish, then resolves', async () => {
    const label = newLabel();
    let started!: () => void;
    const handlerStarted = new Promise<void>((r) => (started = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const worker = await work({ labels: [label], concurrency: 2 }, async (run) => {
      started();
      await released;
      return { finished: run.input.n };
    });
    const agent = await sb.agents.create({ name: uniqueName('slow'), model: 'gpt-4.1', labels: [label] });
    const run = await sb.runs.create({ agentId: agent.id, input: { n: 7 } });
    await handlerStarted;

    let stopped = false;
    const stopping = worker.stop().then(() => (stopped = true));
    await sleep(300);
    expect(stopped).toBe(false);
    expect((await sb.runs.get(run.id)).status).toBe('running');
    release();
    await stopping;
    // When stop() resolves the run is already complete.
    const done = await sb.runs.get(run.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toEqual({ finished: 7 });
    await worker.done;
  });

  it('cancelling a run aborts ctx.signal', async () => {
    const label = newLabel();
    let started!: () => void;
    const handlerStarted = new Promise<void>((r) => (started = r));
    let sawAbort = false;
    let completedAfterAbort = false;
    await work({ labels: [label] }, async (_run, ctx) => {
      started();
      // Bounded: gives up after 25 s (the lease's heartbeat learns of the cancel within a third of it).
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 25_000);
        ctx.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            resolve();
          },
          { once: true },
        );
      });
      sawAbort = ctx.signal.aborted;
      completedAfterAbort = true;
      return { ignored: true };
    });
    const agent = await sb.agents.create({ name: uniqueName('cancelled'), model: 'gpt-4.1', labels: [label] });
    const run = await sb.runs.create({ agentId: agent.id });
    await handlerStarted;
    expect((await sb.runs.cancel(run.id)).status).toBe('cancelled');
    await until(() => completedAfterAbort, 'the handler to return', 1_200, 25);
    expect(sawAbort).toBe(true);
    const after = await sb.runs.get(run.id);
    expect(after.status).toBe('cancelled');
    expect(after.output).toBeNull();
  }, 45_000);
});
