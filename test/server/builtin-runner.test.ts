import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Switchboard, SwitchboardError } from '@switchboard/sdk';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';

const require = createRequire(import.meta.url);
const CLI = require.resolve('@switchboard/cli/package.json').replace(/package\.json$/, 'bin/switchboard.js');

/** A receiver on loopback that counts connections and answers with the JSON it was sent. */
async function receiver(): Promise<{ url: string; connections: () => number; bodies: unknown[]; close(): Promise<void> }> {
  let connections = 0;
  const bodies: unknown[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(raw));
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ answer: 42, runId: req.headers['switchboard-run-id'] }));
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/agent`, connections: () => connections, bodies, close: () => new Promise((r) => server.close(() => r())) };
}

async function finished(sb: Switchboard, runId: string) {
  for await (const event of sb.runs.stream(runId)) {
    if (event.type === 'status' && ['succeeded', 'failed', 'cancelled', 'timed_out', 'expired'].includes(event.data.status)) break;
  }
  return sb.runs.get(runId);
}

describe.each([
  ['refusing private addresses (the default)', {}],
  ['allowed to call private addresses', { RUNNER_ALLOW_PRIVATE_ADDRESSES: 'true' }],
])('the built-in runner started with --with-runner, %s', (_name, env) => {
  let server: ServerProcess;
  let sb: Switchboard;
  const allowed = 'RUNNER_ALLOW_PRIVATE_ADDRESSES' in env;

  beforeAll(async () => {
    server = await startServerProcess(env, undefined, ['--with-runner']);
    sb = new Switchboard({ baseUrl: server.url, apiKey: server.adminKey });
  });
  afterAll(() => server?.stop());

  it('runs an echo agent from queued to succeeded, with its log events', async () => {
    const agent = await sb.agents.create({ name: 'echo', model: 'echo' });
    const run = await sb.runs.create({ agentId: agent.id, input: { question: 'ping' } });
    const done = await finished(sb, run.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toEqual({ question: 'ping' });
    const events = await sb.runs.events(run.id);
    expect(events.data.map((e) => e.type)).toEqual(['status', 'status', 'log', 'output.delta', 'log', 'status']);
  });

  it('runs any other model on the llm runtime, through the gateway: a model that is no alias fails with model_not_found', async () => {
    const agent = await sb.agents.create({ name: 'llm', model: 'gpt-4.1' });
    const done = await finished(sb, (await sb.runs.create({ agentId: agent.id })).id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('model_not_found');
  });

  it(
    allowed
      ? 'POSTs the input to an http agent on loopback and records the answer'
      : 'refuses an http agent on loopback when it is created, naming the setting',
    async () => {
      const target = await receiver();
      try {
        if (!allowed) {
          // The runner's connect-time refusal is tried in test/sdk/runner.test.ts, with a runner stricter than its server.
          const refused = await sb.agents.create({ name: 'http', model: 'remote', runtime: 'http', url: target.url }).catch((err: unknown) => err);
          expect(refused).toBeInstanceOf(SwitchboardError);
          expect((refused as SwitchboardError).status).toBe(422);
          expect((refused as SwitchboardError).message).toContain('RUNNER_ALLOW_PRIVATE_ADDRESSES');
          expect(target.connections()).toBe(0);
          return;
        }
        const agent = await sb.agents.create({ name: 'http', model: 'remote', runtime: 'http', url: target.url });
        const run = await sb.runs.create({ agentId: agent.id, input: { city: 'Paris' } });
        const done = await finished(sb, run.id);
        expect(done.status).toBe('succeeded');
        expect(done.output).toEqual({ answer: 42, runId: run.id });
        expect(target.bodies).toEqual([{ city: 'Paris' }]);
      } finally {
        await target.close();
      }
    },
  );

  it('marks a non-2xx answer as http_error', async () => {
    if (!allowed) return;
    const failing = createServer((_req, res) => res.writeHead(503).end());
    await new Promise<void>((r) => failing.listen(0, '127.0.0.1', r));
    try {
      const { port } = failing.address() as { port: number };
      const agent = await sb.agents.create({ name: 'down', model: 'remote', runtime: 'http', url: `http://127.0.0.1:${port}/` });
      const done = await finished(sb, (await sb.runs.create({ agentId: agent.id })).id);
      expect(done.error).toEqual({ code: 'http_error', message: 'The agent answered HTTP 503.' });
    } finally {
      await new Promise<void>((r) => failing.close(() => r()));
    }
  });
});

describe('the switchboard runner command', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess();
  });
  afterAll(() => server?.stop());

  it('registers a runner, executes runs, and stops cleanly on SIGTERM', async () => {
    const sb = new Switchboard({ baseUrl: server.url, apiKey: server.adminKey });
    const agent = await sb.agents.create({ name: 'echo via CLI', model: 'echo', labels: ['cli'] });
    const run = await sb.runs.create({ agentId: agent.id, input: { n: 1 } });
    const child = spawn(process.execPath, [CLI, '--base-url', server.url, 'runner', '--api-key', server.adminKey, '--labels', 'cli', '--name', 'cli-test'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const done = await finished(sb, run.id);
      expect(done.status).toBe('succeeded');
      const runners = await sb.runners.list({ label: 'cli' });
      expect(runners.data.map((r) => r.name)).toEqual(['cli-test']);
      expect(stderr).toContain(`Registered runner ${runners.data[0]!.id}`);
    } finally {
      const exited = new Promise<number | null>((r) => child.once('exit', r));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });

  it('explains what it needs when given no credential', async () => {
    const child = spawn(process.execPath, [CLI, 'runner'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await new Promise((r) => child.once('exit', r))).not.toBe(0);
    expect(stderr).toContain('Give --api-key to register a runner');
  });
});
