import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwitchboardError, type Switchboard } from '@switchboard/sdk';
import { sineWav, startTestProvider, type TestProvider } from '../support/test-provider.js';
import { ownApp, until } from './helpers.js';

/** The generated `uploads` and `transcriptions` resources against the shared server, the audio sent from Node as a File and as a Blob. */
let provider: TestProvider;
let sb: Switchboard;
let alias: string;

beforeAll(async () => {
  provider = await startTestProvider({ apiKey: 'sk-sdk-provider' });
  ({ sb } = await ownApp('transcriptions sdk'));
  const created = await sb.modelProviders.create({
    name: 'test provider',
    kind: 'openai-compatible',
    baseUrl: provider.openaiBaseUrl,
    credential: 'sk-sdk-provider',
  });
  const model = await sb.models.create({
    alias: 'meeting-notes',
    providerId: created.id,
    upstreamModel: 'whisper-1',
    api: 'transcription',
    pricing: { microsPerAudioMinute: 6000 },
    retry: { attempts: 0 },
  });
  alias = model.alias;
});

afterAll(async () => {
  await provider?.close();
});

describe('sb.uploads and sb.transcriptions', () => {
  it('uploads the WAV as a File, transcribes it and waits for the job, then reads it as subtitles', async () => {
    const wav = sineWav({ seconds: 2 });
    provider.reply({ text: 'Hello from the SDK.', transcript: { segments: [{ start: 0, end: 2, text: ' Hello from the SDK.' }] } });
    const upload = await sb.uploads.create({ file: new File([new Uint8Array(wav)], 'sdk.wav', { type: 'audio/wav' }) }, { idempotencyKey: randomUUID() });
    expect(upload.lastResponse.status).toBe(201);
    expect(upload).toMatchObject({
      object: 'upload',
      filename: 'sdk.wav',
      contentType: 'audio/wav',
      bytes: wav.length,
      sha256: createHash('sha256').update(wav).digest('hex'),
    });
    expect(await sb.uploads.get(upload.id)).toEqual(upload);

    const job = await sb.transcriptions.create({ uploadId: upload.id, model: alias, language: 'en', metadata: { source: 'sdk' } });
    expect(job.lastResponse.status).toBe(202);
    expect(job).toMatchObject({ status: 'queued', uploadId: upload.id, filename: 'sdk.wav', metadata: { source: 'sdk' } });
    await until(async () => (await sb.transcriptions.get(job.id)).status === 'succeeded', 'the transcription to succeed');
    expect(await sb.transcriptions.get(job.id)).toMatchObject({
      text: 'Hello from the SDK.',
      durationSeconds: 2,
      segments: [{ id: 0, start: 0, end: 2, text: 'Hello from the SDK.' }],
      usage: { audioSeconds: 2, costMicros: 200 },
    });
    expect((provider.requests.at(-1)!.body!.file as { data: Buffer }).data.equals(wav)).toBe(true);

    expect(await sb.transcriptions.content(job.id, { format: 'srt' })).toBe('1\n00:00:00,000 --> 00:00:02,000\nHello from the SDK.\n\n');
    expect(await sb.transcriptions.content(job.id, { format: 'json' })).toMatchObject({ text: 'Hello from the SDK.', durationSeconds: 2 });
    expect((await sb.transcriptions.list({ status: 'succeeded' })).data.map((t) => t.id)).toContain(job.id);

    await sb.transcriptions.delete(job.id);
    const gone = await sb.transcriptions.get(job.id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(SwitchboardError);
    expect((gone as SwitchboardError).code).toBe('not-found');
  });

  it('uploads a Blob (named "blob" by FormData), and refuses a file that is not audio with a typed error', async () => {
    const blob = await sb.uploads.create({ file: new Blob([new Uint8Array(sineWav({ seconds: 0.5 }))], { type: 'audio/wav' }) });
    expect(blob).toMatchObject({ filename: 'blob', contentType: 'audio/wav' });
    await sb.uploads.delete(blob.id);

    const refused = await sb.uploads.create({ file: new File(['not audio'], 'notes.txt', { type: 'text/plain' }) }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SwitchboardError);
    expect(refused).toMatchObject({ status: 415, code: 'unsupported-media-type' });
  });
});
