import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { createTestDatabase, masterKeyFor, type TestDatabase } from './databases.js';
import { freePort, waitFor } from './ports.js';

const require = createRequire(import.meta.url);
export const SERVER_ENTRY = require.resolve('@switchboard/server/main');

export type ServerProcess = { url: string; adminKey: string; database: TestDatabase; child: ChildProcess; output: () => string; stop(): Promise<void> };

export const newBootstrapKey = () => `sbk_${randomBytes(32).toString('base64url')}`;

/** Starts the built server as its own process on loopback, with a fresh database. */
export async function startServerProcess(env: Record<string, string> = {}, database?: TestDatabase, args: string[] = []): Promise<ServerProcess> {
  const db = database ?? (await createTestDatabase());
  const port = await freePort();
  const adminKey = newBootstrapKey();
  let output = '';
  const child = spawn(process.execPath, [SERVER_ENTRY, ...args], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: db.url,
      SWITCHBOARD_BOOTSTRAP_KEY: adminKey,
      SWITCHBOARD_MASTER_KEY: masterKeyFor(db),
      LOG_LEVEL: 'warn',
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
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
