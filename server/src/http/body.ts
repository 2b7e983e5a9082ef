import type { Context } from 'koa';
import { pointerBeyondDepth } from '../util/json-depth.js';
import { escapeToken } from '../util/json-pointer.js';
import { ProblemError } from '../problems/problems.js';
import { FORM } from '../spec/operations.js';

const JSON_TYPES = /^application\/([a-z0-9.+-]*\+)?json$/;

/** Deepest nesting a body may have: far beyond any real document, far below what serializing it back needs in stack. */
const MAX_BODY_DEPTH = 64;

export const mediaType = (header: string | undefined) => (header ?? '').split(';')[0]!.trim().toLowerCase();

export const hasBody = (ctx: Context) => Number(ctx.get('content-length') || 0) > 0 || (ctx.get('transfer-encoding') !== '' && ctx.method !== 'GET');

/**
 * Reads the raw body up to the limit and parses it as JSON. The raw bytes are kept: the idempotency
 * fingerprint is computed over exactly what the client sent.
 */
export async function readJsonBody(ctx: Context, accepted: string[], limitBytes: number): Promise<{ raw: Buffer; value: unknown } | undefined> {
  if (!hasBody(ctx)) return undefined;
  const type = mediaType(ctx.get('content-type'));
  if (!accepted.includes(type)) {
    throw new ProblemError('unsupported-media-type', `Content-Type "${type || '(none)'}" is not accepted here; send ${accepted.join(' or ')}.`);
  }
  const charset = /charset=([^;\s]+)/i.exec(ctx.get('content-type'))?.[1]?.toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') {
    throw new ProblemError('unsupported-media-type', `Charset "${charset}" is not supported; send UTF-8.`);
  }
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limitBytes) throw tooLarge(limitBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw tooLarge(limitBytes);
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks);
  if (type === FORM) return { raw, value: parseForm(raw) };
  if (!JSON_TYPES.test(type)) return { raw, value: raw.toString('utf8') };
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new ProblemError('invalid-json', `The body is not valid JSON: ${(err as Error).message}`);
  }
  const tooDeep = pointerBeyondDepth(value, MAX_BODY_DEPTH);
  if (tooDeep !== undefined) {
    const detail = `Values may be nested at most ${MAX_BODY_DEPTH} levels deep.`;
    throw new ProblemError('validation-error', 'The request has 1 invalid value.', { errors: [{ pointer: tooDeep, in: 'body', detail }] });
  }
  return { raw, value };
}

const tooLarge = (limit: number) => new ProblemError('payload-too-large', `The body is larger than ${limit} bytes.`);

/**
 * A form body as an object of strings: strictly, unlike URLSearchParams (which passes broken
 * escapes through and replaces invalid UTF-8), so what a person typed is stored as typed or refused.
 * A name given twice is refused too: which one was meant cannot be told.
 */
function parseForm(raw: Buffer): Record<string, string> {
  const fields = new Map<string, string>();
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part.replace(/\+/g, ' '));
    } catch {
      throw new ProblemError('bad-request', 'The form body has a broken percent-escape (application/x-www-form-urlencoded, UTF-8).');
    }
  };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new ProblemError('bad-request', 'The form body is not valid UTF-8.');
  }
  for (const pair of text.split('&')) {
    if (!pair) continue;
    const at = pair.indexOf('=');
    const name = decode(at < 0 ? pair : pair.slice(0, at));
    if (fields.has(name)) {
      const detail = `The form field "${name.slice(0, 100)}" is given more than once.`;
      throw new ProblemError('validation-error', 'The request has 1 invalid value.', { errors: [{ pointer: `/${escapeToken(name)}`, in: 'body', detail }] });
    }
    fields.set(name, at < 0 ? '' : decode(pair.slice(at + 1)));
  }
  return Object.fromEntries(fields);
}
