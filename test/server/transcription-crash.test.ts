import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { inspectDatabase } from '../support/inspect-database.js';
import { until } from '../support/until.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { sineWav, startTestProvider } from '../support/test-provider.js';
import { call, type Conn } from './run-helpers.js';
import { audioForm, postForm, transcriptionAlias, type Transcription } from './transcription-helpers.js';

/**
 * `kill -9` while a transcription is with its provider: the job stays claimed, so no other worker
 * sends it meanwhile; once the claim runs out (3 s here, not extended by the dead worker), a server
 * on the same database takes it over, sends it again and records it once.
 */
const CLAIM_MS = 3000;
const ENV = {
  MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES: 'true',
  TRANSCRIPTION_CLAIM_SECONDS: String(CLAIM_MS / 1000),
  TRANSCRIPTION_INTERVAL_MS: '100',
};

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function serverOn(db: TestDatabase): Promise<{ server: ServerProcess; conn: Conn }> {
  const server = await startServerProcess(ENV, db);
  // stop() waits for an exit still to come: not for a server this test already killed.
  cleanups.push(async () => (server.child.exitCode === null && server.child.signalCode === null ? server.stop() : undefined));
  return { server, conn: { baseUrl: server.url, key: server.adminKey } };
}

describe('a transcription across a crash (kill -9)', () => {
  it("is taken over by another server once the dead worker's claim runs out, sent again and recorded once", { timeout: 60_000 }, async () => {
    const provider = await startTestProvider();
    cleanups.push(() => provider.close());
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const first = await serverOn(db);
    const model = await transcriptionAlias(first.conn, provider);
    const sent = () => provider.requests.filter((r) => r.path === '/v1/audio/transcriptions');

    provider.reply({ hang: true });
    const created = await postForm<Transcription>(first.conn, '/api/v1/transcriptions', audioForm(sineWav({ seconds: 0.25 }), { model: model.alias }));
    expect(created.status).toBe(202);
    await until('the provider holds the first request', 10_000, () => sent()[0]);
    const hungAt = Date.now();

    const exited = new Promise((resolve) => first.server.child.once('exit', resolve));
    expect(first.server.child.kill('SIGKILL')).toBe(true);
    await exited;
    let sentAgainAt = 0;
    provider.reply(() => {
      sentAgainAt = Date.now();
      return { text: 'Taken over.' };
    });
    const second = await serverOn(db);
    const job = await until('the job succeeds on the second server', 30_000, async () => {
      const r = await call<Transcription>(second.conn, 'GET', `/api/v1/transcriptions/${created.body.id}`);
      return r.body.status === 'succeeded' ? r.body : undefined;
    });
    // Not sent again before the dead worker's claim ran out.
    expect(sent()).toHaveLength(2);
    expect(sentAgainAt - hungAt).toBeGreaterThanOrEqual(CLAIM_MS - 500);
    expect(job).toMatchObject({ status: 'succeeded', text: 'Taken over.', usage: { audioSeconds: 0.25 } });
    const inspect = inspectDatabase(db);
    cleanups.push(() => inspect.destroy());
    expect(await inspect('usage_events').where({ source: 'transcription' })).toHaveLength(1);
  });
});
