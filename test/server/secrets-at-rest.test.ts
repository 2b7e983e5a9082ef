import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { inspectDatabase } from '../support/inspect-database.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { call, claim, label, newAgent, newRun, newRunner, runnerConn, type Conn } from './run-helpers.js';
import { newSecret, rowsHolding } from './secrets-helpers.js';

const keyId = (key: string) => createHash('sha256').update(Buffer.from(key, 'base64')).digest('hex').slice(0, 8);
type Sealed = { secret_id: string; version: number; data_key_sealed: string; value_encrypted: string };

let database: TestDatabase;
let server: ServerProcess | undefined;
afterAll(async () => {
  await server?.stop();
  await database?.drop();
});

/** The same database and bootstrap key across restarts, with the master keys of each start. */
async function restart(current: string, previous: string[] = []) {
  await server?.stop();
  server = await startServerProcess(
    { SWITCHBOARD_MASTER_KEY: current, SWITCHBOARD_PREVIOUS_MASTER_KEYS: previous.join(','), LOG_LEVEL: 'info', WEBHOOK_ALLOWED_ADDRESSES: '127.0.0.1' },
    database,
  );
  return { baseUrl: server.url, key: server.adminKey } as Conn;
}

describe('master key rotation', () => {
  // Three starts of a server: on PostgreSQL, beside other suites, more than the default 30 s.
  it('re-wraps every data key under the new key without touching a value, after which the old key can be retired', async () => {
    database = await createTestDatabase();
    const [oldKey, newKey] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
    let app = await restart(oldKey);
    // The bootstrap key is made once per database: later starts keep the first one.
    const adminKey = app.key;
    const tag = label();
    const values = { OLD_ONE: `one-${randomBytes(16).toString('hex')}`, OLD_TWO: `two-${randomBytes(16).toString('hex')}` };
    for (const [name, value] of Object.entries(values)) await newSecret(app, name, value);
    expect((await call(app, 'POST', '/api/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks' })).status).toBe(201);
    const agent = await newAgent(app, { labels: [tag], secrets: Object.keys(values) });
    const runner = await newRunner(app, [tag]);

    const db = inspectDatabase(database);
    try {
      const before = (await db('secret_versions').select()) as Sealed[];
      expect(before.every((row) => row.data_key_sealed.startsWith(`v1:${keyId(oldKey)}:`))).toBe(true);

      app = { ...(await restart(newKey, [oldKey])), key: adminKey };
      // Every value opens at once, before the pass has re-wrapped anything or not.
      await newRun(app, agent.id);
      expect((await claim(runnerConn(app.baseUrl, runner), runner.id)).secrets).toEqual(values);
      const ready = async () =>
        (await call(app, 'GET', '/readyz')).body as { masterKeys?: { current: string; previous: { id: string; sealedValues: number }[] } };
      await expect.poll(ready, { timeout: 10_000 }).toEqual({
        status: 'ok',
        database: 'ok',
        masterKeys: { current: keyId(newKey), previous: [{ id: keyId(oldKey), sealedValues: 0 }] },
      });
      const after = (await db('secret_versions').select()) as Sealed[];
      for (const row of before) {
        const now = after.find((a) => a.secret_id === row.secret_id && a.version === row.version)!;
        expect(now.value_encrypted).toBe(row.value_encrypted);
        expect(now.data_key_sealed).not.toBe(row.data_key_sealed);
        expect(now.data_key_sealed.startsWith(`v1:${keyId(newKey)}:`)).toBe(true);
      }
      const endpoints = await db('webhook_endpoints').select<{ secret_sealed: string }[]>('secret_sealed');
      expect(endpoints.every((e) => e.secret_sealed.startsWith(`v1:${keyId(newKey)}:`))).toBe(true);

      app = { ...(await restart(newKey)), key: adminKey };
      expect((await call(app, 'GET', '/readyz')).body).toEqual({ status: 'ok', database: 'ok' });
      await newRun(app, agent.id);
      expect((await claim(runnerConn(app.baseUrl, runner), runner.id)).secrets).toEqual(values);
      for (const value of Object.values(values)) {
        expect(await rowsHolding(db, value)).toEqual([]);
        expect(server!.output()).not.toContain(value);
      }
    } finally {
      await db.destroy();
    }
  }, 90_000);
});
