import { createHash } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Webhook } from 'standardwebhooks';
import type { RunningServer } from '@switchboard/server';
import type { components } from '../../server/src/generated/openapi.js';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { sineWav, startTestProvider, type RecordedRequest, type TestProvider } from '../support/test-provider.js';
import { call, expectInvalidTransition, expectProblem, type Conn } from './run-helpers.js';
import { createKey } from './helpers.js';
import { audioForm, postForm, transcriptionAlias, TRN_ID, UPL_ID, type Transcription, type Upload } from './transcription-helpers.js';

/**
 * Transcription jobs, uploads and the OpenAI passthrough on an in-process server (its own database:
 * SQLite, or PostgreSQL with DATABASE_URL) whose clock the test moves, against two test providers
 * on loopback. Jobs start at once (a job's commit wakes the worker); `transcribeNow` waits for them.
 * One worker slot, so that a job held by a hanging provider keeps the next one queued.
 */
let fakeNow = Date.parse('2033-03-01T10:00:00.000Z');
const HOUR = 3600 * 1000;
type Budget = components['schemas']['Budget'];
const UPLOAD_LIMIT = 25 * 1024 * 1024;

let running: InProcessServer | undefined;
let server: RunningServer;
let app: Conn;
let provider: TestProvider;
let backup: TestProvider;
let hooks: Server;
let hookSecret: string;
const deliveries: { headers: IncomingHttpHeaders; body: string; at: number }[] = [];

const wav = sineWav({ seconds: 1.5 });
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

beforeAll(async () => {
  provider = await startTestProvider({ apiKey: 'sk-test-provider' });
  backup = await startTestProvider({ apiKey: 'sk-backup' });
  running = await startInProcessServer(
    { now: () => fakeNow },
    {
      MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES: 'true',
      WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
      RATE_LIMIT_COSTLY: '100000',
      TRANSCRIPTION_CONCURRENCY: '1',
      TRANSCRIPTION_INTERVAL_MS: '60000',
    },
  );
  server = running.server;
  app = { baseUrl: running.baseUrl, key: running.adminKey };
  hooks = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body, at: fakeNow });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
  const endpoint = await call(app, 'POST', '/api/v1/webhook-endpoints', {
    url: `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hooks`,
    eventTypes: ['transcription.*'],
  });
  expect(endpoint.status).toBe(201);
  hookSecret = endpoint.body.secret;
});

afterAll(async () => {
  await running?.stop();
  await provider?.close();
  await backup?.close();
  hooks?.close();
});

beforeEach(() => {
  expect(provider.pending()).toBe(0);
  expect(backup.pending()).toBe(0);
});

const audioRequests = (p: TestProvider) => p.requests.filter((r) => r.path === '/v1/audio/transcriptions');
const getTranscription = async (id: string) => (await call<Transcription>(app, 'GET', `/api/v1/transcriptions/${id}`)).body;
const usageRows = (requestId: string) => server.db('usage_events').where({ request_id: requestId }).select('*');
const numeric = (row: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) && k !== 'request_id' ? Number(v) : v]));

/** Queues a job with the WAV in the form; expects 202. */
async function createJob(alias: string, fields: Record<string, unknown> = {}, audio = wav, filename = 'speech.wav'): Promise<Transcription> {
  const created = await postForm<Transcription>(app, '/api/v1/transcriptions', audioForm(audio, { model: alias, ...fields }, filename));
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  return created.body;
}

/** Runs every queued job and delivers the webhooks they recorded. */
async function settle(): Promise<void> {
  await server.transcribeNow();
  await server.deliverWebhooksNow();
}

/** The webhook deliveries about one transcription, each verified with the endpoint's secret. */
function eventsAbout(id: string) {
  return deliveries
    .map((d) => {
      const pinned = vi.spyOn(Date, 'now').mockReturnValue(d.at);
      try {
        return new Webhook(hookSecret).verify(d.body, {
          'webhook-id': String(d.headers['webhook-id']),
          'webhook-timestamp': String(d.headers['webhook-timestamp']),
          'webhook-signature': String(d.headers['webhook-signature']),
        }) as { type: string; data: Transcription };
      } finally {
        pinned.mockRestore();
      }
    })
    .filter((e) => e.data.id === id);
}

const waitFor = async (what: string, probe: () => boolean) => {
  for (let i = 0; i < 400 && !probe(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!probe()) throw new Error(`gave up waiting for ${what}`);
};

describe('transcription jobs', () => {
  it('transcribes a WAV sent with the job: queued, then succeeded with text, segments and exact usage, once, with its event', async () => {
    const model = await transcriptionAlias(app, provider, { microsPerAudioMinute: 6000, upstreamModel: 'whisper-1' });
    provider.reply({
      text: 'Good morning. The release goes out today.',
      transcript: {
        language: 'english',
        segments: [
          { start: 0, end: 0.6, text: ' Good morning.' },
          { start: 0.6, end: 1.5, text: ' The release goes out today.' },
        ],
      },
    });
    const created = await postForm<Transcription>(
      app,
      '/api/v1/transcriptions',
      audioForm(wav, { model: model.alias, language: 'en', prompt: 'A daily standup.', metadata: { meeting: 'standup' } }, 'standup.wav'),
    );
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const job = created.body;
    expect(job.id).toMatch(TRN_ID);
    expect(created.headers.get('location')).toBe(`/api/v1/transcriptions/${job.id}`);
    expect(job).toMatchObject({
      object: 'transcription',
      status: 'queued',
      model: model.alias,
      language: 'en',
      prompt: 'A daily standup.',
      timestamps: 'segment',
      retainAudio: false,
      uploadId: null,
      filename: 'standup.wav',
      audioExpiresAt: new Date(fakeNow + 24 * HOUR).toISOString(),
      audioDeletedAt: null,
      text: null,
      durationSeconds: null,
      segments: [],
      words: null,
      usage: null,
      error: null,
      metadata: { meeting: 'standup' },
      completedAt: null,
    });

    await settle();
    const done = await getTranscription(job.id);
    expect(done).toMatchObject({
      status: 'succeeded',
      text: 'Good morning. The release goes out today.',
      language: 'english',
      durationSeconds: 1.5,
      segments: [
        { id: 0, start: 0, end: 0.6, text: 'Good morning.' },
        { id: 1, start: 0.6, end: 1.5, text: 'The release goes out today.' },
      ],
      words: null,
      usage: { audioSeconds: 1.5, costMicros: 150 },
      error: null,
    });
    expect(done.startedAt).not.toBeNull();
    expect(done.completedAt).not.toBeNull();

    const [sent, ...more] = audioRequests(provider);
    expect(more).toEqual([]);
    expect(sent!.headers.authorization).toBe('Bearer sk-test-provider');
    expect(sent!.body).toMatchObject({
      model: 'whisper-1',
      response_format: 'verbose_json',
      'timestamp_granularities[]': 'segment',
      language: 'en',
      prompt: 'A daily standup.',
      file: { filename: 'standup.wav', mimeType: 'audio/wav' },
    });
    expect((sent!.body!.file as { data: Buffer }).data.equals(wav)).toBe(true);
    provider.requests.length = 0;

    const usage = (await usageRows(job.id)).map(numeric);
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({
      source: 'transcription',
      alias: model.alias,
      model_id: model.id,
      provider_id: model.providerId,
      upstream_model: 'whisper-1',
      api: 'transcription',
      outcome: 'succeeded',
      audio_seconds: 1.5,
      cost_micros: 150,
      attempts: 1,
      fallbacks_used: 0,
      upstream_status: 200,
      error_code: null,
    });
    expect(usage[0]!.key_id).toMatch(/^key_/);

    const events = eventsAbout(job.id);
    expect(events.map((e) => e.type)).toEqual(['transcription.completed']);
    expect(events[0]!.data).toEqual(done);
  });

  it('transcribes an earlier upload named by uploadId, with word timestamps, and keeps its own copy of the audio', async () => {
    const model = await transcriptionAlias(app, provider);
    const uploaded = await postForm<Upload>(app, '/api/v1/uploads', audioForm(wav, {}, 'call.wav'));
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
    const upload = uploaded.body;
    expect(upload).toEqual({
      id: expect.stringMatching(UPL_ID),
      object: 'upload',
      filename: 'call.wav',
      contentType: 'audio/wav',
      bytes: wav.length,
      sha256: sha256(wav),
      expiresAt: new Date(fakeNow + 24 * HOUR).toISOString(),
      createdAt: new Date(fakeNow).toISOString(),
    });
    expect(uploaded.headers.get('location')).toBe(`/api/v1/uploads/${upload.id}`);
    expect((await call(app, 'GET', `/api/v1/uploads/${upload.id}`)).body).toEqual(upload);

    provider.reply({ text: 'One two three.', transcript: { segments: [{ start: 0, end: 1.5, text: ' One two three.' }] } });
    const created = await call<Transcription>(app, 'POST', '/api/v1/transcriptions', {
      uploadId: upload.id,
      model: model.alias,
      timestamps: 'word',
      retainAudio: true,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    expect(created.body).toMatchObject({ uploadId: upload.id, filename: 'call.wav', retainAudio: true, audioExpiresAt: null, timestamps: 'word' });
    // The upload goes; the job has its own copy.
    expect((await call(app, 'DELETE', `/api/v1/uploads/${upload.id}`)).status).toBe(204);
    expectProblem(await call(app, 'GET', `/api/v1/uploads/${upload.id}`), 404, 'not-found');

    await settle();
    const done = await getTranscription(created.body.id);
    expect(done).toMatchObject({
      status: 'succeeded',
      segments: [{ id: 0, start: 0, end: 1.5, text: 'One two three.' }],
      words: [
        { word: 'One', start: 0, end: 0.5 },
        { word: 'two', start: 0.5, end: 1 },
        { word: 'three.', start: 1, end: 1.5 },
      ],
    });
    const [sent] = audioRequests(provider);
    expect(sent!.body!['timestamp_granularities[]']).toEqual(['segment', 'word']);
    expect((sent!.body!.file as { data: Buffer }).data.equals(wav)).toBe(true);
    provider.requests.length = 0;
  });

  it('serves the result as txt, srt, vtt and json, with hour-long SubRip and WebVTT timestamps; 409 while it has not succeeded', async () => {
    const model = await transcriptionAlias(app, provider, { microsPerAudioMinute: 6000 });
    provider.reply({
      delayMs: 300,
      text: 'Hello there. Goodbye.',
      transcript: {
        duration: 3725.25,
        segments: [
          { start: 0, end: 1.5, text: ' Hello there.' },
          { start: 3723.5, end: 3725.25, text: ' Goodbye.' },
        ],
      },
    });
    const job = await createJob(model.alias);
    const early = await call(app, 'GET', `/api/v1/transcriptions/${job.id}/content?format=srt`);
    expectInvalidTransition(early, early.body.detail.includes('processing') ? 'processing' : 'queued');
    await settle();
    expect((await getTranscription(job.id)).usage).toEqual({ audioSeconds: 3725.25, costMicros: 372525 });

    const content = async (format: string) => {
      const res = await fetch(`${app.baseUrl}/api/v1/transcriptions/${job.id}/content?format=${format}`, { headers: { Authorization: `Bearer ${app.key}` } });
      expect(res.status).toBe(200);
      return { type: res.headers.get('content-type'), text: await res.text() };
    };
    expect(await content('txt')).toEqual({ type: 'text/plain; charset=utf-8', text: 'Hello there. Goodbye.\n' });
    expect(await content('srt')).toEqual({
      type: 'text/plain; charset=utf-8',
      text: '1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n01:02:03,500 --> 01:02:05,250\nGoodbye.\n\n',
    });
    expect(await content('vtt')).toEqual({
      type: 'text/vtt; charset=utf-8',
      text: 'WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n\n01:02:03.500 --> 01:02:05.250\nGoodbye.\n\n',
    });
    const json = await content('json');
    expect(json.type).toMatch(/^application\/json/);
    expect(JSON.parse(json.text)).toEqual({
      text: 'Hello there. Goodbye.',
      language: 'english',
      durationSeconds: 3725.25,
      segments: [
        { id: 0, start: 0, end: 1.5, text: 'Hello there.' },
        { id: 1, start: 3723.5, end: 3725.25, text: 'Goodbye.' },
      ],
      words: null,
    });
    // The default format is txt.
    expect((await call(app, 'GET', `/api/v1/transcriptions/${job.id}/content`)).body).toBe('Hello there. Goodbye.\n');
    expectProblem(await call(app, 'GET', `/api/v1/transcriptions/${job.id}/content?format=doc`), 422, 'validation-error');
    provider.requests.length = 0;
  });

  it('keeps no segments with timestamps none: its subtitles are one cue over the whole audio', async () => {
    const model = await transcriptionAlias(app, provider);
    provider.reply({ text: 'Short note.' });
    const job = await createJob(model.alias, { timestamps: 'none' });
    await settle();
    expect(await getTranscription(job.id)).toMatchObject({ status: 'succeeded', text: 'Short note.', segments: [], words: null, durationSeconds: 1.5 });
    const srt = await call(app, 'GET', `/api/v1/transcriptions/${job.id}/content?format=srt`);
    expect(srt.body).toBe('1\n00:00:00,000 --> 00:00:01,500\nShort note.\n\n');
    provider.requests.length = 0;
  });

  it('lists transcriptions newest first, filtered by status and model', async () => {
    const model = await transcriptionAlias(app, provider);
    provider.reply({}, { status: 400, error: { message: 'Bad audio.' } });
    const first = await createJob(model.alias);
    await settle();
    const second = await createJob(model.alias);
    await settle();
    const all = await call(app, 'GET', `/api/v1/transcriptions?model=${model.alias}`);
    expect(all.body.data.map((t: Transcription) => t.id)).toEqual([second.id, first.id]);
    const failed = await call(app, 'GET', `/api/v1/transcriptions?model=${model.alias}&status=failed`);
    expect(failed.body.data.map((t: Transcription) => t.id)).toEqual([second.id]);
    expect(failed.body.pagination).toEqual({ page: 1, pageSize: 20, total: 1, totalPages: 1 });
    provider.requests.length = 0;
  });
});

describe('provider faults', () => {
  it('a provider error fails the job with provider_error quoting it, records the failed call once and sends transcription.failed', async () => {
    const model = await transcriptionAlias(app, provider, { retry: { attempts: 0 } });
    provider.reply({ status: 500, error: { message: 'The engine exploded.' } });
    const job = await createJob(model.alias);
    await settle();
    const failed = await getTranscription(job.id);
    expect(failed).toMatchObject({ status: 'failed', text: null, usage: null, error: { code: 'provider_error' } });
    expect(failed.error!.message).toContain('500');
    expect(failed.error!.message).toContain('The engine exploded.');
    expect((await usageRows(job.id)).map(numeric)).toEqual([
      expect.objectContaining({ outcome: 'failed', error_code: 'provider_error', upstream_status: 500, audio_seconds: null, cost_micros: null, attempts: 1 }),
    ]);
    expect(eventsAbout(job.id).map((e) => [e.type, e.data.status, e.data.error?.code])).toEqual([['transcription.failed', 'failed', 'provider_error']]);
    expectInvalidTransition(await call(app, 'GET', `/api/v1/transcriptions/${job.id}/content`), 'failed');
    provider.requests.length = 0;
  });

  it("retries the statuses of the alias's policy, then succeeds; a request the provider refuses (400) is not retried", async () => {
    const model = await transcriptionAlias(app, provider, { retry: { attempts: 2, onStatus: [503], backoffMs: 10 } });
    provider.reply({ status: 503, error: { message: 'Busy.' } }, { status: 503, error: { message: 'Busy.' } }, { text: 'Third time.' });
    const job = await createJob(model.alias);
    await settle();
    expect(await getTranscription(job.id)).toMatchObject({ status: 'succeeded', text: 'Third time.' });
    expect(audioRequests(provider)).toHaveLength(3);
    expect((await usageRows(job.id)).map(numeric)[0]).toMatchObject({ attempts: 3, outcome: 'succeeded' });
    provider.requests.length = 0;

    provider.reply({ status: 400, error: { message: 'Invalid file format.' } });
    const refused = await createJob(model.alias);
    await settle();
    expect((await getTranscription(refused.id)).error).toEqual({ code: 'provider_rejected', message: 'The provider answered 400: Invalid file format.' });
    expect(audioRequests(provider)).toHaveLength(1);
    provider.requests.length = 0;
  });

  it('a provider silent past its timeout fails the job with provider_timeout; one nobody listens at with provider_unreachable', async () => {
    const slow = await transcriptionAlias(app, provider, { timeoutSeconds: 1 });
    provider.reply({ hang: true });
    const job = await createJob(slow.alias);
    await settle();
    const failed = await getTranscription(job.id);
    expect(failed.error?.code).toBe('provider_timeout');
    expect(failed.error?.message).toContain('1 s');
    expect(await audioRequests(provider)[0]!.settled).toBe('aborted');
    provider.requests.length = 0;

    const closed = await startTestProvider();
    await closed.close();
    const gone = await transcriptionAlias(app, closed);
    const unreachable = await createJob(gone.alias);
    await settle();
    expect((await getTranscription(unreachable.id)).error).toMatchObject({
      code: 'provider_unreachable',
      message: expect.stringContaining('connection refused'),
    });
  });

  it("falls back to the next alias after the first one's retries, with the fallback's credential, upstream model and price", async () => {
    const fallback = await transcriptionAlias(app, backup, { credential: 'sk-backup', upstreamModel: 'whisper-large', microsPerAudioMinute: 12000 });
    const primary = await transcriptionAlias(app, provider, { retry: { attempts: 1, onStatus: [503], backoffMs: 10 }, fallbacks: [fallback.alias] });
    provider.reply({ status: 503, error: { message: 'Down.' } }, { status: 503, error: { message: 'Still down.' } });
    backup.reply({ text: 'Served by the backup.' });
    const job = await createJob(primary.alias);
    await settle();
    expect(await getTranscription(job.id)).toMatchObject({
      status: 'succeeded',
      model: primary.alias,
      text: 'Served by the backup.',
      usage: { audioSeconds: 1.5, costMicros: 300 },
    });
    expect(audioRequests(provider)).toHaveLength(2);
    const [served] = audioRequests(backup);
    expect(served!.headers.authorization).toBe('Bearer sk-backup');
    expect(served!.body).toMatchObject({ model: 'whisper-large' });
    expect((await usageRows(job.id)).map(numeric)).toEqual([
      expect.objectContaining({
        alias: primary.alias,
        model_id: fallback.id,
        provider_id: fallback.providerId,
        upstream_model: 'whisper-large',
        fallbacks_used: 1,
        attempts: 3,
        cost_micros: 300,
      }),
    ]);
    provider.requests.length = 0;
    backup.requests.length = 0;
  });
});

describe('cancel, delete and retention', () => {
  it('cancels a queued job and one being sent (its call aborted at once), records nothing for them; a job that ended cannot be cancelled', async () => {
    const model = await transcriptionAlias(app, provider);
    provider.reply({ hang: true });
    const held = await createJob(model.alias);
    await waitFor('the held job to reach the provider', () => audioRequests(provider).length === 1);
    // The only worker slot is taken: the next job waits in the queue.
    const waiting = await createJob(model.alias);
    expect((await getTranscription(waiting.id)).status).toBe('queued');
    expect((await getTranscription(held.id)).status).toBe('processing');

    const cancelled = await call<Transcription>(app, 'POST', `/api/v1/transcriptions/${waiting.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', completedAt: new Date(fakeNow).toISOString() });
    expectInvalidTransition(await call(app, 'POST', `/api/v1/transcriptions/${waiting.id}/cancel`), 'cancelled');

    expect((await call(app, 'POST', `/api/v1/transcriptions/${held.id}/cancel`)).body.status).toBe('cancelled');
    expect(await audioRequests(provider)[0]!.settled).toBe('aborted');
    await settle();
    for (const id of [held.id, waiting.id]) {
      expect((await getTranscription(id)).status).toBe('cancelled');
      expect(await usageRows(id)).toEqual([]);
      expect(eventsAbout(id)).toEqual([]);
    }
    expect(audioRequests(provider)).toHaveLength(1);
    provider.requests.length = 0;

    provider.reply({});
    const finished = await createJob(model.alias);
    await settle();
    expectInvalidTransition(await call(app, 'POST', `/api/v1/transcriptions/${finished.id}/cancel`), 'succeeded');
    provider.requests.length = 0;
  });

  it('deletes a job with its audio and text (404 from then on, usage kept), honouring If-Match; deleting a job being sent aborts its call', async () => {
    const model = await transcriptionAlias(app, provider);
    provider.reply({ text: 'Secret words.' });
    const job = await createJob(model.alias);
    await settle();
    expect(await server.db('transcription_audio').where({ transcription_id: job.id })).toHaveLength(1);
    expectProblem(await call(app, 'DELETE', `/api/v1/transcriptions/${job.id}`, undefined, { 'If-Match': '"stale"' }), 412, 'precondition-failed');
    const current = await call(app, 'GET', `/api/v1/transcriptions/${job.id}`);
    expect((await call(app, 'DELETE', `/api/v1/transcriptions/${job.id}`, undefined, { 'If-Match': current.headers.get('etag')! })).status).toBe(204);
    expectProblem(await call(app, 'GET', `/api/v1/transcriptions/${job.id}`), 404, 'not-found');
    expect(await server.db('transcriptions').where({ id: job.id })).toEqual([]);
    expect(await server.db('transcription_audio').where({ transcription_id: job.id })).toEqual([]);
    expect(await usageRows(job.id)).toHaveLength(1);
    provider.requests.length = 0;

    provider.reply({ hang: true });
    const sending = await createJob(model.alias);
    await waitFor('the job to reach the provider', () => audioRequests(provider).length === 1);
    expect((await call(app, 'DELETE', `/api/v1/transcriptions/${sending.id}`)).status).toBe(204);
    expect(await audioRequests(provider)[0]!.settled).toBe('aborted');
    await settle();
    expect(await server.db('transcriptions').where({ id: sending.id })).toEqual([]);
    expect(await usageRows(sending.id)).toEqual([]);
    provider.requests.length = 0;
  });

  it('deletes uploads and job audio 24 hours on (unless retainAudio), in the sweep', async () => {
    const model = await transcriptionAlias(app, provider);
    provider.reply({}, {});
    const dropped = await createJob(model.alias);
    const kept = await createJob(model.alias, { retainAudio: 'true' });
    expect(kept).toMatchObject({ retainAudio: true, audioExpiresAt: null });
    await settle();
    const upload = (await postForm<Upload>(app, '/api/v1/uploads', audioForm(wav))).body;

    fakeNow += 24 * HOUR - 1000;
    await server.purgeNow();
    expect((await call(app, 'GET', `/api/v1/uploads/${upload.id}`)).status).toBe(200);
    expect((await getTranscription(dropped.id)).audioDeletedAt).toBeNull();

    fakeNow += 1000;
    await server.purgeNow();
    expectProblem(await call(app, 'GET', `/api/v1/uploads/${upload.id}`), 404, 'not-found');
    expect(await server.db('uploads').where({ id: upload.id })).toEqual([]);
    expect(await getTranscription(dropped.id)).toMatchObject({ status: 'succeeded', audioDeletedAt: new Date(fakeNow).toISOString() });
    expect(await server.db('transcription_audio').where({ transcription_id: dropped.id })).toEqual([]);
    expect((await getTranscription(kept.id)).audioDeletedAt).toBeNull();
    expect(await server.db('transcription_audio').where({ transcription_id: kept.id })).toHaveLength(1);
    // An expired upload can no longer be transcribed.
    const late = await call(app, 'POST', '/api/v1/transcriptions', { uploadId: upload.id, model: model.alias });
    expect(expectProblem(late, 422, 'validation-error').errors).toEqual([expect.objectContaining({ pointer: '/uploadId' })]);
    provider.requests.length = 0;
  });
});

describe('bad input', () => {
  it('refuses an unknown alias and one of another API with 422 naming it, and an unknown upload', async () => {
    const unknown = await postForm(app, '/api/v1/transcriptions', audioForm(wav, { model: 'no-such-alias' }));
    const problem = expectProblem(unknown, 422, 'validation-error', '"no-such-alias"');
    expect(problem.errors).toEqual([expect.objectContaining({ pointer: '/model' })]);
    const chat = await transcriptionAlias(app, provider, { api: 'chat', upstreamModel: 'gpt-4.1-mini' });
    expectProblem(await postForm(app, '/api/v1/transcriptions', audioForm(wav, { model: chat.alias })), 422, 'validation-error', 'serves the chat API');
    const model = await transcriptionAlias(app, provider);
    const absent = await call(app, 'POST', '/api/v1/transcriptions', { uploadId: 'upl_01jd6b3c4d5e6f7g8h9j0k1m2n', model: model.alias });
    expectProblem(absent, 422, 'validation-error', 'upl_01jd6b3c4d5e6f7g8h9j0k1m2n');
    expect(await server.db('transcriptions').where({ model: 'no-such-alias' })).toEqual([]);
  });

  it('answers 415 for a file that is not audio and for a body that is not a form, 422 for a form without its file or with bad fields', async () => {
    const model = await transcriptionAlias(app, provider);
    const text = await postForm(app, '/api/v1/uploads', audioForm(Buffer.from('hello'), {}, 'notes.txt', 'text/plain'));
    expectProblem(text, 415, 'unsupported-media-type', 'text/plain');
    expectProblem(
      await postForm(app, '/api/v1/uploads', audioForm(Buffer.from('x'), {}, 'notes.bin', 'application/octet-stream')),
      415,
      'unsupported-media-type',
    );
    expectProblem(await call(app, 'POST', '/api/v1/uploads', { file: 'x' }), 415, 'unsupported-media-type', 'multipart/form-data');

    // application/octet-stream is taken by its extension, as SDKs that do not know the type send it.
    const mp3 = await postForm<Upload>(app, '/api/v1/uploads', audioForm(Buffer.from('ID3 not really'), {}, 'voice.mp3', 'application/octet-stream'));
    expect(mp3.status).toBe(201);
    expect(mp3.body.contentType).toBe('audio/mpeg');

    const noFile = new FormData();
    noFile.append('model', model.alias);
    const missing = expectProblem(await postForm(app, '/api/v1/transcriptions', noFile), 422, 'validation-error');
    expect(missing.errors).toEqual([expect.objectContaining({ pointer: '/file' })]);

    const bad = await postForm(app, '/api/v1/transcriptions', audioForm(wav, { model: model.alias, retainAudio: 'maybe', timestamps: 'all', color: 'red' }));
    const issues = expectProblem(bad, 422, 'validation-error').errors!.map((e) => e.pointer);
    expect(issues.sort()).toEqual(['/color', '/retainAudio', '/timestamps']);
    const proto = audioForm(wav, { model: model.alias });
    proto.append('__proto__', '{"admin":true}');
    expect(expectProblem(await postForm(app, '/api/v1/transcriptions', proto), 422, 'validation-error').errors).toEqual([
      expect.objectContaining({ pointer: '/__proto__' }),
    ]);
    const notJson = new FormData();
    notJson.append('model', model.alias);
    notJson.append('metadata', '{oops');
    notJson.append('file', new Blob([new Uint8Array(wav)], { type: 'audio/wav' }), 'a.wav');
    expect(expectProblem(await postForm(app, '/api/v1/transcriptions', notJson), 422, 'validation-error').errors).toEqual([
      expect.objectContaining({ pointer: '/metadata' }),
    ]);
    const malformed = await fetch(`${app.baseUrl}/api/v1/uploads`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${app.key}`, 'Content-Type': 'multipart/form-data; boundary=xyz' },
      body: '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\nabc',
    });
    expect(malformed.status).toBe(400);
    expect(await server.db('transcriptions').where({ model: model.alias })).toEqual([]);
  });

  it('takes a file of exactly the upload limit, and refuses one byte more with 413 naming the limit', async () => {
    const exact = await postForm<Upload>(app, '/api/v1/uploads', audioForm(Buffer.alloc(UPLOAD_LIMIT, 1), {}, 'big.wav'));
    expect(exact.status).toBe(201);
    expect(exact.body.bytes).toBe(UPLOAD_LIMIT);
    const over = await postForm(app, '/api/v1/uploads', audioForm(Buffer.alloc(UPLOAD_LIMIT + 1, 1), {}, 'big.wav'));
    expectProblem(over, 413, 'payload-too-large', String(UPLOAD_LIMIT));
    const overJob = await postForm(app, '/api/v1/transcriptions', audioForm(Buffer.alloc(UPLOAD_LIMIT + 1, 1), { model: 'whatever' }));
    expectProblem(overJob, 413, 'payload-too-large', String(UPLOAD_LIMIT));
    expect(await server.db('uploads').where({ bytes: UPLOAD_LIMIT + 1 })).toEqual([]);
  });

  it('answers 413 before reading a body whose declared length is over the limit, and as soon as a streamed file passes it', async () => {
    const url = new URL(`${app.baseUrl}/api/v1/uploads`);
    const boundary = 'limit-test-boundary';
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n`);
    const send = (declared: number | undefined, total: number) =>
      new Promise<{ status: number; body: string; sentWhenAnswered: number }>((resolve, reject) => {
        let sent = 0;
        let answered = false;
        const req = request(
          url,
          {
            method: 'POST',
            headers: {
              Authorization: `Bearer ${app.key}`,
              'Content-Type': `multipart/form-data; boundary=${boundary}`,
              ...(declared === undefined ? {} : { 'Content-Length': String(declared) }),
            },
          },
          (res) => {
            answered = true;
            const sentWhenAnswered = sent;
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (body += c));
            res.on('end', () => {
              req.destroy();
              resolve({ status: res.statusCode!, body, sentWhenAnswered });
            });
          },
        );
        req.on('error', (err) => (answered ? undefined : reject(err)));
        const chunk = Buffer.alloc(256 * 1024, 7);
        const pump = () => {
          while (!answered && sent < total) {
            const piece = sent === 0 ? head : chunk;
            sent += piece.length;
            if (!req.write(piece)) {
              req.once('drain', pump);
              return;
            }
          }
        };
        pump();
      });

    // Declared too large: answered having read nothing of it (the client sends only its first bytes, and waits).
    const declared = await send(UPLOAD_LIMIT * 2, head.length);
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toMatchObject({ code: 'payload-too-large' });

    // Streamed without a length: answered once the file passes the limit, long before the 4 x limit the client would send.
    const streamed = await send(undefined, UPLOAD_LIMIT * 4);
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body).detail).toContain(String(UPLOAD_LIMIT));
    expect(streamed.sentWhenAnswered).toBeGreaterThan(UPLOAD_LIMIT);
    expect(streamed.sentWhenAnswered).toBeLessThan(UPLOAD_LIMIT * 2);
  });

  it('replays a form sent again with the same Idempotency-Key (whatever its boundary) and refuses the key with another file', async () => {
    const model = await transcriptionAlias(app, provider);
    provider.reply({});
    const headers = { 'Idempotency-Key': `trn-${fakeNow}` };
    const first = await postForm<Transcription>(app, '/api/v1/transcriptions', audioForm(wav, { model: model.alias }), headers);
    expect(first.status).toBe(202);
    const again = await postForm<Transcription>(app, '/api/v1/transcriptions', audioForm(wav, { model: model.alias }), headers);
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    const other = await postForm(app, '/api/v1/transcriptions', audioForm(sineWav({ seconds: 1 }), { model: model.alias }), headers);
    expectProblem(other, 422, 'idempotency-key-reused');
    await settle();
    expect(await server.db('transcriptions').where({ model: model.alias })).toHaveLength(1);
    provider.requests.length = 0;
  });
});

describe('the OpenAI passthrough, POST /api/v1/llm/openai/v1/audio/transcriptions', () => {
  const openai = () => new OpenAI({ apiKey: app.key, baseURL: `${app.baseUrl}/api/v1/llm/openai/v1`, maxRetries: 0 });
  const file = () => toFile(wav, 'hello.wav', { type: 'audio/wav' });
  const lastAudio = (): RecordedRequest => audioRequests(provider).at(-1)!;

  it('answers the official openai client with the provider answer as it was sent, and records one usage row under its Request-Id', async () => {
    const model = await transcriptionAlias(app, provider, { upstreamModel: 'whisper-1', microsPerAudioMinute: 6000 });
    provider.reply({ text: 'Hi there.', transcript: { segments: [{ start: 0, end: 1.5, text: ' Hi there.' }] } });
    const { data, response } = await openai()
      .audio.transcriptions.create({
        file: await file(),
        model: model.alias,
        response_format: 'verbose_json',
        timestamp_granularities: ['word'],
        language: 'en',
      })
      .withResponse();
    expect(data).toMatchObject({ text: 'Hi there.', duration: 1.5, language: 'english', words: [{ word: 'Hi' }, { word: 'there.' }] });
    expect(lastAudio().body).toMatchObject({ model: 'whisper-1', response_format: 'verbose_json', 'timestamp_granularities[]': 'word', language: 'en' });
    expect(lastAudio().headers.authorization).toBe('Bearer sk-test-provider');
    const requestId = response.headers.get('request-id')!;
    expect(requestId).toMatch(/^req_/);
    expect((await usageRows(requestId)).map(numeric)).toEqual([
      expect.objectContaining({
        source: 'gateway',
        api: 'transcription',
        alias: model.alias,
        model_id: model.id,
        outcome: 'succeeded',
        audio_seconds: 1.5,
        cost_micros: 150,
      }),
    ]);

    provider.reply({ text: 'Plain words.' }, { text: 'Cue text.' }, { text: 'Web text.' }, { text: 'Json text.' });
    expect(await openai().audio.transcriptions.create({ file: await file(), model: model.alias, response_format: 'text' })).toBe('Plain words.\n');
    expect(await openai().audio.transcriptions.create({ file: await file(), model: model.alias, response_format: 'srt' })).toBe(
      '1\n00:00:00,000 --> 00:00:01,500\nCue text.\n\n',
    );
    expect(await openai().audio.transcriptions.create({ file: await file(), model: model.alias, response_format: 'vtt' })).toContain('WEBVTT');
    const json = await openai()
      .audio.transcriptions.create({ file: await file(), model: model.alias })
      .withResponse();
    expect(json.data.text).toBe('Json text.');
    // A json answer's duration usage (whole seconds, as OpenAI bills it) prices the call.
    expect((await usageRows(json.response.headers.get('request-id')!)).map(numeric)[0]).toMatchObject({ audio_seconds: 2, cost_micros: 200 });
    provider.requests.length = 0;
  });

  it("answers errors in OpenAI's envelope: unknown alias 404, another API 400, the provider's own errors passed on, its credential refusal as 502", async () => {
    const model = await transcriptionAlias(app, provider);
    const notFound = await openai()
      .audio.transcriptions.create({ file: await file(), model: 'no-such-alias' })
      .catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(OpenAI.NotFoundError);
    expect(notFound).toMatchObject({ status: 404, code: 'model_not_found', param: 'model', type: 'invalid_request_error' });

    const chat = await transcriptionAlias(app, provider, { api: 'chat', upstreamModel: 'gpt-4.1-mini' });
    const wrongApi = await openai()
      .audio.transcriptions.create({ file: await file(), model: chat.alias })
      .catch((e: unknown) => e);
    expect(wrongApi).toBeInstanceOf(OpenAI.BadRequestError);
    expect(wrongApi).toMatchObject({ code: 'invalid_model' });

    provider.reply({ status: 429, error: { message: 'Slow down.', type: 'rate_limit_error', code: 'rate_limit_exceeded' } });
    const limited = await openai()
      .audio.transcriptions.create({ file: await file(), model: model.alias })
      .catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited).toMatchObject({ status: 429, code: 'rate_limit_exceeded', message: expect.stringContaining('Slow down.') });

    provider.reply({ status: 401, error: { message: 'Incorrect API key provided.' } });
    const refused = await openai()
      .audio.transcriptions.create({ file: await file(), model: model.alias })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 502, code: 'provider_error', message: expect.stringContaining('Incorrect API key provided.') });

    const streamed = await fetch(`${app.baseUrl}/api/v1/llm/openai/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${app.key}` },
      body: audioForm(wav, { model: model.alias, stream: 'true' }),
    });
    expect(streamed.status).toBe(400);
    expect(await streamed.json()).toEqual({
      error: { message: expect.any(String), type: 'invalid_request_error', code: 'unsupported_value', param: 'stream' },
    });
    expect(audioRequests(provider)).toHaveLength(2);
    provider.requests.length = 0;
  });

  it('holds the longest the audio could last in the budgets before it goes out: 402 in the envelope without room, the exact cost with it', async () => {
    const model = await transcriptionAlias(app, provider, { microsPerAudioMinute: 6000 });
    const key = await createKey({ scopes: ['read', 'write'], by: app.key, baseUrl: app.baseUrl });
    const asKey: Conn = { baseUrl: app.baseUrl, key: key.secret };
    // One second per 1,000 bytes of audio (8 kbit/s, the least speech is sent in), at 100 micro-USD a second.
    const estimate = Math.ceil(wav.length / 1000) * 100;
    const created = await call<Budget>(app, 'POST', '/api/v1/budgets', {
      name: 'Audio, daily',
      scope: { type: 'api_key', id: key.id },
      window: 'day',
      amountMicros: estimate - 1,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const budget = created.body;
    const budgetNow = async () => (await call<Budget>(app, 'GET', `/api/v1/budgets/${budget.id}`)).body.status;
    const client = new OpenAI({ apiKey: key.secret, baseURL: `${app.baseUrl}/api/v1/llm/openai/v1`, maxRetries: 0 });
    const sent = audioRequests(provider).length;
    await expect(client.audio.transcriptions.create({ file: await file(), model: model.alias })).rejects.toMatchObject({
      status: 402,
      code: 'budget_exceeded',
      type: 'insufficient_quota',
    });
    const queued = await postForm(asKey, '/api/v1/transcriptions', audioForm(wav, { model: model.alias }));
    expect(expectProblem(queued, 402, 'budget-exceeded').budgetId).toBe(budget.id);
    expect(audioRequests(provider)).toHaveLength(sent);
    expect(await budgetNow()).toMatchObject({ spentMicros: 0, reservedMicros: 0 });

    expect((await call(app, 'PATCH', `/api/v1/budgets/${budget.id}`, { amountMicros: 2 * estimate })).status).toBe(200);
    provider.reply({ text: 'Within budget.', transcript: { segments: [{ start: 0, end: 1.5, text: ' Within budget.' }] } });
    const answered = await client.audio.transcriptions.create({ file: await file(), model: model.alias, response_format: 'verbose_json' });
    expect(answered.text).toBe('Within budget.');
    // 1.5 seconds at 100 micro-USD a second, the reservation let go.
    expect(await budgetNow()).toMatchObject({ spentMicros: 150, reservedMicros: 0 });
    provider.requests.length = 0;
  });
});
