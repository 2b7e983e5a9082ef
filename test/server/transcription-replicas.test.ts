import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newBootstrapKey, onPostgres, startReplicas, type Replicas } from '../support/server-process.js';
import { sineWav, startTestProvider, type TestProvider } from '../support/test-provider.js';
import { call, type Conn } from './run-helpers.js';
import { audioForm, postForm, transcriptionAlias, type Transcription } from './transcription-helpers.js';

describe.skipIf(!onPostgres)('transcription jobs on three server processes sharing one PostgreSQL database (needs DATABASE_URL=postgres://...)', () => {
  let replicas: Replicas;
  let provider: TestProvider;
  let conns: Conn[];

  beforeAll(async () => {
    const key = newBootstrapKey();
    provider = await startTestProvider({ defaultReply: { delayMs: 30, text: 'Once.' } });
    replicas = await startReplicas(3, {
      SWITCHBOARD_BOOTSTRAP_KEY: key,
      MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES: 'true',
      TRANSCRIPTION_INTERVAL_MS: '100',
      TRANSCRIPTION_CONCURRENCY: '2',
      RATE_LIMIT_COSTLY: '100000',
      RATE_LIMIT_READ: '100000',
      RATE_LIMIT_WRITE: '100000',
    });
    conns = replicas.servers.map((s) => ({ baseUrl: s.url, key }));
  }, 60_000);

  afterAll(async () => {
    await replicas?.stop();
    await provider?.close();
  });

  it('sends each of 30 jobs queued through all three to the provider exactly once, and records each once', async () => {
    const model = await transcriptionAlias(conns[0]!, provider);
    const wav = sineWav({ seconds: 0.25 });
    const jobs = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const created = await postForm<Transcription>(
          conns[i % 3]!,
          '/api/v1/transcriptions',
          audioForm(wav, { model: model.alias, metadata: { n: String(i) } }),
        );
        expect(created.status).toBe(202);
        return created.body.id;
      }),
    );
    const statuses = async () =>
      Promise.all(jobs.map(async (id, i) => (await call<Transcription>(conns[(i + 1) % 3]!, 'GET', `/api/v1/transcriptions/${id}`)).body.status));
    for (let i = 0; i < 200 && (await statuses()).some((s) => s !== 'succeeded'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await statuses()).toEqual(jobs.map(() => 'succeeded'));
    const sent = provider.requests.filter((r) => r.path === '/v1/audio/transcriptions');
    expect(sent).toHaveLength(30);
    const list = await call<{ data: Transcription[] }>(conns[2]!, 'GET', `/api/v1/transcriptions?model=${model.alias}&pageSize=100`);
    expect(list.body.data.map((t) => t.usage)).toEqual(jobs.map(() => ({ audioSeconds: 0.25, costMicros: 25 })));
  }, 60_000);
});
