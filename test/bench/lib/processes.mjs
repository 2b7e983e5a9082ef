// The processes under test: the real server (server/dist/main.js) and the bare baselines, each in
// its own process on loopback, plus /proc readings of their memory and CPU time.
import { execFileSync, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { sqliteDatabase } from './databases.mjs';
import { now } from './http.mjs';

const require = createRequire(import.meta.url);
export const SERVER_ENTRY = require.resolve('@switchboard/server/main');
const BASELINE_ENTRY = fileURLToPath(new URL('./baseline-server.mjs', import.meta.url));

/** Budgets high enough that the bench never meets a rate limit (10,000,000 a minute is the maximum). */
export const NO_RATE_LIMITS = {
  RATE_LIMIT_READ: '10000000',
  RATE_LIMIT_WRITE: '10000000',
  RATE_LIMIT_RUN: '10000000',
  RATE_LIMIT_COSTLY: '10000000',
  RATE_LIMIT_LLM: '10000000',
};

/** Node options for every real server started, e.g. ['--cpu-prof', '--cpu-prof-dir=...'] (run.mjs --cpu-prof-dir). */
export const serverNodeArgs = [];

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Fails early when a process may not open `files` files. Node raises its soft limit to the hard
 * limit at start, and its children inherit it; so the limit that counts is the hard one.
 */
export function assertFileLimit(files) {
  const limit = execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  if (limit !== 'unlimited' && Number(limit) < files) {
    throw new Error(`this needs ${files} open files per process, but the limit is ${limit}: raise it (ulimit -Hn) and retry`);
  }
}

/**
 * What /proc/<pid>/stat says of a process: its command name, parent and CPU time (user + system,
 * in seconds of Linux clock ticks of 1/100 s); undefined once it has exited.
 */
function processStat(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces) start at field 3: ppid is 4, utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { command: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / 100 };
}

/** Every process now, with its /proc stat. */
const allProcesses = () =>
  readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((entry) => {
      const stat = processStat(Number(entry));
      return stat ? [{ pid: Number(entry), ...stat }] : [];
    });

/** A process and its children (a server with WORKERS runs its workers as children). */
const processTree = (pid) => [pid, ...allProcesses().flatMap((p) => (p.ppid === pid ? [p.pid] : []))];

/** Resident set size of a process and its children, in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid) {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
    } catch {
      // exited meanwhile
    }
  }
  return total || NaN;
}

/** CPU time a process and its children have used so far, in seconds. */
export const cpuSeconds = (pid) => processTree(pid).reduce((sum, p) => sum + (processStat(p)?.cpu ?? 0), 0);

/** CPU time used so far by every process whose command name starts with `command` (PostgreSQL runs a process per connection), in seconds. */
export const cpuSecondsOfCommand = (command) => allProcesses().reduce((sum, p) => sum + (p.command.startsWith(command) ? p.cpu : 0), 0);

/** One GET on a new connection: 200 or not (connection refused while the server starts). */
function probe(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.setTimeout(2000, () => req.destroy());
  });
}

/**
 * Starts the built server as its own process, in production mode, on a fresh database (SQLite in a
 * temp dir unless `database` is given), with the bootstrap admin key and no effective rate limits.
 * Polls /readyz every `pollMs`; `readyMs` is the time from spawn to its first 200.
 */
export async function startSwitchboard({ database, env = {}, nodeArgs = [], pollMs = 10, timeoutMs = 30_000 } = {}) {
  const db = database ?? sqliteDatabase();
  const port = await freePort();
  const key = `sbk_${randomBytes(32).toString('base64url')}`;
  let output = '';
  const keep = (d) => {
    output += d.toString();
    if (output.length > 256 * 1024) output = output.slice(-128 * 1024);
  };
  const spawnedAt = now();
  const child = spawn(process.execPath, [...serverNodeArgs, ...nodeArgs, SERVER_ENTRY], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: db.url,
      SWITCHBOARD_BOOTSTRAP_KEY: key,
      LOG_LEVEL: 'warn',
      ...(db.masterKey ? { SWITCHBOARD_MASTER_KEY: db.masterKey } : {}),
      ...NO_RATE_LIMITS,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  let readyMs;
  for (;;) {
    if (await probe(`${url}/readyz`)) {
      readyMs = now() - spawnedAt;
      break;
    }
    if (child.exitCode !== null || now() - spawnedAt > timeoutMs) {
      child.kill('SIGKILL');
      await db.drop().catch(() => {});
      throw new Error(`The server did not become ready (exit code ${child.exitCode}):\n${output}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return {
    url,
    key,
    pid: child.pid,
    readyMs,
    database: db,
    rss: () => rssBytes(child.pid),
    cpu: () => cpuSeconds(child.pid),
    output: () => output,
    /** Error-level log lines (pino level >= 50) the server wrote, e.g. responses that broke the contract. */
    errors: () => output.split('\n').filter((l) => /"level":(50|60)/.test(l)),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      await db.drop();
    },
  };
}

/**
 * A bare server answering GET /api/v1/agents/:id with `agent` (serialised per request):
 * `koa` (Koa + @koa/router, resolved from the server's dependencies) or `http` (node:http alone).
 */
export async function startBaseline(kind, agent) {
  const port = await freePort();
  const child = fork(BASELINE_ENTRY, [kind, String(port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`baseline ${kind} exited with ${code}`)));
    child.send({ agent });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    cpu: () => cpuSeconds(child.pid),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
