import { expect } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { uniqueName } from '../support/client.js';
import type { TestProvider } from '../support/test-provider.js';
import { call, type Conn, type Reply } from './run-helpers.js';

export type Transcription = components['schemas']['Transcription'];
export type Upload = components['schemas']['Upload'];
export type Model = components['schemas']['Model'];

export const TRN_ID = /^trn_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
export const UPL_ID = /^upl_[0-7][0-9a-hjkmnp-tv-z]{25}$/;

export type AliasOptions = {
  alias?: string;
  upstreamModel?: string;
  microsPerAudioMinute?: number | null;
  fallbacks?: string[];
  retry?: { attempts?: number; onStatus?: number[]; backoffMs?: number };
  credential?: string;
  timeoutSeconds?: number;
  api?: 'transcription' | 'chat';
};

/** A provider at the test provider's OpenAI address and a transcription alias served by it. */
export async function transcriptionAlias(conn: Conn, provider: TestProvider, options: AliasOptions = {}): Promise<Model> {
  const created = await call(conn, 'POST', '/api/v1/model-providers', {
    name: uniqueName('provider'),
    kind: 'openai-compatible',
    baseUrl: provider.openaiBaseUrl,
    credential: options.credential ?? 'sk-test-provider',
    timeoutSeconds: options.timeoutSeconds ?? 30,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const model = await call<Model>(conn, 'POST', '/api/v1/models', {
    alias: options.alias ?? `whisper-${uniqueName('a').replace(/[^a-z0-9]/gi, '')}`,
    providerId: created.body.id,
    upstreamModel: options.upstreamModel ?? 'whisper-1',
    api: options.api ?? 'transcription',
    pricing: { microsPerAudioMinute: options.microsPerAudioMinute === undefined ? 6000 : options.microsPerAudioMinute },
    fallbacks: options.fallbacks ?? [],
    retry: { attempts: 0, backoffMs: 10, ...options.retry },
  });
  expect(model.status, JSON.stringify(model.body)).toBe(201);
  return model.body;
}

/** A multipart request straight to the server (fetch writes the boundary). */
export async function postForm<T = any>(conn: Conn, path: string, form: FormData, headers: Record<string, string> = {}): Promise<Reply<T>> {
  const res = await fetch(`${conn.baseUrl}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${conn.key}`, ...headers }, body: form });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, headers: res.headers, body: (text && /json/.test(type) ? JSON.parse(text) : text) as T, res };
}

/** A form with the audio as `file` and the other fields as text parts (objects as JSON). */
export function audioForm(audio: Buffer, fields: Record<string, unknown> = {}, filename = 'speech.wav', type = 'audio/wav'): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, typeof value === 'string' ? value : JSON.stringify(value));
  form.append('file', new Blob([new Uint8Array(audio)], { type }), filename);
  return form;
}
