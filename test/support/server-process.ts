import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { createTestDatabase, masterKeyFor, type TestDatabase } from './databases.js';
import { freePort, waitFor } from './ports.js';

const require = createRequire(import.meta.url);
export const SERVER_ENTRY = require.resolve('@switchboard/server/main');

export type ServerProcess = { url: string; adminKey: string; database: TestDatabase; child: ChildProcess; output: () => string; stop(): Promise<void> };

export const newBootstrapKey = () => `sbk_${randomBytes(32).toString('base64url')}`;

/** Starts the built server (or another build of it: `entry`) as its own process on loopback, with a fresh database. */
export async function startServerProcess(
  env: Record<string, string> = {},
  database?: TestDatabase,
  args: string[] = [],
  entry = SERVER_ENTRY,
): Promise<ServerProcess> {
  const db = database ?? (await createTestDatabase());
  const port = await freePort();
  const adminKey = newBootstrapKey();
  let output = '';
  const child = spawn(process.execPath, [entry, ...args], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: db.url,
      SWITCHBOARD_BOOTSTRAP_KEY: adminKey,
      SWITCHBOARD_MASTER_KEY: masterKeyFor(db),
      LOG_LEVEL: 'warn',
      // A test's own idle keep-alive connections would hold each stop for seconds (the drain's test sets its own).
      SHUTDOWN_GRACE_SECONDS: '2',
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await Promise.race([
      waitFor(`${url}/readyz`, 20_000),
      new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)))),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\nserver output:\n${output}`);
  }
  return {
    url,
    adminKey,
    database: db,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (!database) await db.drop();
    },
  };
}

/** Replicas need a database two processes can share: PostgreSQL. */
export const onPostgres = /^postgres(ql)?:\/\//.test(process.env.DATABASE_URL ?? '');

/** The buses replicas can share events and key changes over: Redis when REDIS_URL is set, and always LISTEN/NOTIFY. */
export const replicaBuses: { name: string; redis: string }[] = [
  ...(process.env.REDIS_URL ? [{ name: 'Redis bus', redis: process.env.REDIS_URL }] : []),
  { name: 'PostgreSQL LISTEN/NOTIFY bus (no REDIS_URL)', redis: '' },
];

export type Replicas = { servers: ServerProcess[]; stop(): Promise<void> };

/**
 * `count` server processes on one fresh database: the first migrates and bootstraps alone, the
 * others then start together and find it done.
 */
export async function startReplicas(count: number, env: Record<string, string>): Promise<Replicas> {
  const database = await createTestDatabase();
  const servers: ServerProcess[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await database.drop();
  };
  try {
    servers.push(await startServerProcess(env, database));
    const rest = await Promise.allSettled(Array.from({ length: count - 1 }, () => startServerProcess(env, database)));
    for (const r of rest) if (r.status === 'fulfilled') servers.push(r.value);
    const failed = rest.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    await stop();
    throw err;
  }
  return { servers, stop };
}
