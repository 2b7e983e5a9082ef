import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import { type Reply } from './test-provider-script.js';
import { wavDurationSeconds } from './wav.js';

/** OpenAI's transcription endpoint: the multipart upload and the five response formats. */

export type UploadedFile = { filename: string; mimeType: string; data: Buffer };
export type Multipart = Record<string, unknown> & { file?: UploadedFile };

const MAX_UPLOAD_BYTES = 25 * 1024 * 1024;

/** The form's fields (a field sent more than once, like `timestamp_granularities[]`, becomes an array) and its `file`. */
export function parseMultipart(req: IncomingMessage): Promise<Multipart> {
  return new Promise((resolve, reject) => {
    const fields: Multipart = {};
    const form = busboy({ headers: req.headers, limits: { fileSize: MAX_UPLOAD_BYTES, files: 1 } });
    form.on('field', (name, value) => {
      const previous = fields[name];
      fields[name] = previous === undefined ? value : [...(Array.isArray(previous) ? (previous as unknown[]) : [previous]), value];
    });
    form.on('file', (name, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => reject(new Error(`The file is larger than ${String(MAX_UPLOAD_BYTES)} bytes.`)));
      stream.on('close', () => {
        fields[name] = { filename: info.filename, mimeType: info.mimeType, data: Buffer.concat(chunks) };
      });
    });
    form.on('error', reject);
    form.on('close', () => resolve(fields));
    req.pipe(form);
  });
}

export const RESPONSE_FORMATS = ['json', 'text', 'verbose_json', 'srt', 'vtt'] as const;

type Segment = { start: number; end: number; text: string };

const round = (n: number) => Math.round(n * 1000) / 1000;

/** The text's sentences spread evenly over the duration. */
function defaultSegments(text: string, duration: number): Segment[] {
  const sentences = (text.match(/[^.!?]+[.!?]*/g) ?? [text]).map((s) => s.trim()).filter(Boolean);
  const each = duration / Math.max(1, sentences.length);
  return sentences.map((sentence, i) => ({ start: round(i * each), end: round((i + 1) * each), text: ` ${sentence}` }));
}

function clock(seconds: number, separator: ',' | '.') {
  const ms = Math.round(seconds * 1000);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}${separator}${pad(ms % 1000, 3)}`;
}

/** The transcription of the upload in the requested format: `{ contentType, body }`. */
export function transcription(reply: Reply, form: Multipart): { contentType: string; body: string } {
  const text = reply.text ?? 'Hello from the test provider.';
  const duration = reply.transcript?.duration ?? (form.file ? wavDurationSeconds(form.file.data) : undefined) ?? 1;
  const segments = reply.transcript?.segments ?? defaultSegments(text, duration);
  const format = typeof form.response_format === 'string' ? form.response_format : 'json';
  const granularities = [form['timestamp_granularities[]'] ?? 'segment'].flat();
  const usage = { type: 'duration', seconds: Math.ceil(duration) };
  switch (format) {
    case 'text':
      return { contentType: 'text/plain; charset=utf-8', body: `${text}\n` };
    case 'srt':
      return {
        contentType: 'text/plain; charset=utf-8',
        body: segments.map((s, i) => `${String(i + 1)}\n${clock(s.start, ',')} --> ${clock(s.end, ',')}\n${s.text.trim()}\n\n`).join(''),
      };
    case 'vtt':
      return {
        contentType: 'text/plain; charset=utf-8',
        body: `WEBVTT\n\n${segments.map((s) => `${clock(s.start, '.')} --> ${clock(s.end, '.')}\n${s.text.trim()}\n\n`).join('')}`,
      };
    case 'verbose_json': {
      const words = segments.flatMap((s) => {
        const parts = s.text.trim().split(/\s+/);
        const each = (s.end - s.start) / Math.max(1, parts.length);
        return parts.map((word, i) => ({ word, start: round(s.start + i * each), end: round(s.start + (i + 1) * each) }));
      });
      const body = {
        task: 'transcribe',
        language: reply.transcript?.language ?? 'english',
        duration,
        text,
        ...(granularities.includes('word') ? { words } : {}),
        ...(granularities.includes('segment')
          ? {
              segments: segments.map((s, id) => ({
                id,
                seek: 0,
                start: s.start,
                end: s.end,
                text: s.text,
                tokens: [],
                temperature: 0,
                avg_logprob: -0.2,
                compression_ratio: 1.2,
                no_speech_prob: 0.01,
              })),
            }
          : {}),
        usage,
      };
      return { contentType: 'application/json', body: JSON.stringify(body) };
    }
    default:
      return { contentType: 'application/json', body: JSON.stringify({ text, usage }) };
  }
}
