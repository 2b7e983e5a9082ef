import { readdirSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onPostgres, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { until } from '../support/until.js';
import { bearer, newAgent, newRun, SseStream, type Conn, type Run } from './run-helpers.js';

/**
 * WORKERS=2: one server, two processes sharing its port, each a replica on the shared database and
 * bus. Connections are spread over both; what one commits, streams on the other deliver; a worker
 * that dies is replaced; SIGTERM stops them all.
 */
const suite = onPostgres ? describe : describe.skip;
const title = onPostgres ? 'WORKERS=2: one port, two processes' : 'WORKERS=2 (skipped: DATABASE_URL is not postgres://, and SQLite is served by one process)';

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The pids of a process's children, from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

suite(title, () => {
  let server: ServerProcess;
  let conn: Conn;

  beforeAll(async () => {
    server = await startServerProcess({ WORKERS: '2', LOG_LEVEL: 'info', RATE_LIMIT_READ: '100000', RATE_LIMIT_WRITE: '100000', RATE_LIMIT_RUN: '100000' });
    conn = { baseUrl: server.url, key: server.adminKey };
    // Ready as soon as the first worker answers; the second starts once the first listens.
    await until('both workers listening', 20_000, () => (server.output().includes('Switchboard workers listening') ? true : undefined));
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  /** GET /api/v1/agents on a connection of its own (the cluster hands each new connection to the next worker). */
  const statusOnNewConnection = () =>
    new Promise<number>((resolve, reject) => {
      const req = get(`${server.url}/api/v1/agents`, { agent: false, headers: bearer(server.adminKey) }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
    });

  /** The worker pids that answered requests, from their access log lines. */
  const answeredBy = () => new Set([...server.output().matchAll(/"pid":(\d+)[^\n]*"msg":"request"/g)].map((m) => Number(m[1])));

  it('spreads connections over both workers, and streams on each deliver what the other committed', async () => {
    const workers = childrenOf(server.child.pid!);
    const agent = await newAgent(conn);
    // Each stream is a connection of its own: node:cluster hands them out in turn.
    const streams = await Promise.all(Array.from({ length: 6 }, () => SseStream.open(`${server.url}/api/v1/realtime/runs`, bearer(server.adminKey))));
    try {
      const runs: Run[] = [];
      for (let i = 0; i < 6; i++) runs.push(await newRun(conn, agent.id));
      for (const s of streams) await s.until((st) => runs.every((r) => st.messages.some((m) => m.json.runId === r.id)), 'every run');
      expect(new Set(streams.map((s) => s.messages.map((m) => m.id).join(',')))).toHaveProperty('size', 1);
    } finally {
      for (const s of streams) s.close();
    }
    for (let i = 0; i < 6; i++) expect(await statusOnNewConnection()).toBe(200);
    expect([...answeredBy()].sort()).toEqual([...workers].sort());
  });

  it('replaces a worker that dies, and keeps answering meanwhile', async () => {
    const [victim, survivor] = childrenOf(server.child.pid!);
    process.kill(victim!, 'SIGKILL');
    await until('the worker gone', 5000, () => (isAlive(victim!) ? undefined : true));
    // A connection the dead worker held is lost with it; new ones go to the living.
    for (let i = 0; i < 10; i++) expect(await statusOnNewConnection()).toBe(200);
    await until('a replacement worker', 20_000, () => (childrenOf(server.child.pid!).length === 2 ? true : undefined));
    const now = childrenOf(server.child.pid!);
    expect(now).toContain(survivor);
    expect(now).not.toContain(victim);
  });

  it('SIGTERM stops every worker and the server exits with 0', async () => {
    const workers = childrenOf(server.child.pid!);
    const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
    server.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of workers) expect(isAlive(pid)).toBe(false);
  });
});
