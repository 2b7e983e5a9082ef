import { createHash } from 'node:crypto';
import { extname } from 'node:path';
import busboy from 'busboy';
import type { Context } from 'koa';
import type { MultipartSpec } from '../spec/operations.js';
import { ProblemError, type ValidationIssue } from '../problems/problems.js';
import { escapeToken } from '../util/json-pointer.js';
import type { UploadedFile } from '../util/uploaded-file.js';

/** Media types an `application/octet-stream` file is taken as, by its extension (clients that do not know send that type). */
const TYPES_BY_EXTENSION: Record<string, string> = {
  '.flac': 'audio/flac',
  '.mp3': 'audio/mpeg',
  '.mp4': 'audio/mp4',
  '.mpeg': 'audio/mpeg',
  '.mpga': 'audio/mpeg',
  '.m4a': 'audio/mp4',
  '.oga': 'audio/ogg',
  '.ogg': 'audio/ogg',
  '.opus': 'audio/ogg',
  '.wav': 'audio/wav',
  '.webm': 'audio/webm',
};

const OCTET_STREAM = 'application/octet-stream';
/** Parts a form may have: far more than any operation declares, few enough that a form of empty parts costs nothing. */
const MAX_PARTS = 64;
const MAX_FILENAME = 255;

export type MultipartLimits = { fileBytes: number; fieldBytes: number };

/** The form: text fields (a repeated one as an array, a JSON part parsed), files, and the fingerprint of what it says. */
export type MultipartBody = { fields: Record<string, unknown>; files: Map<string, UploadedFile>; fingerprint: Buffer };

const accepts = (accepted: string[], type: string) => accepted.some((a) => a === type || (a.endsWith('/*') && type.startsWith(a.slice(0, -1))) || a === '*/*');

// eslint-disable-next-line no-control-regex -- the class names the characters a file name may not keep
const printableName = (name: string) => name.replace(/[\x00-\x1f\x7f/\\]/g, '_').slice(0, MAX_FILENAME);

/** The media type a file is stored with: its own, or for octet-stream (or none) the one its extension names. */
function effectiveType(declared: string, filename: string): string {
  const type = declared.toLowerCase();
  return type === OCTET_STREAM || type === '' ? (TYPES_BY_EXTENSION[extname(filename).toLowerCase()] ?? OCTET_STREAM) : type;
}

const invalid = (issues: ValidationIssue[]) =>
  new ProblemError('validation-error', `The request has ${issues.length} invalid value${issues.length > 1 ? 's' : ''}.`, { errors: issues });

/**
 * Reads a `multipart/form-data` body as it streams in: each file within `fileBytes` (413 as soon as
 * one goes beyond, nothing more of it kept), each text part within `fieldBytes`, files only where
 * the spec declares them and of a media type their `encoding` accepts (415 otherwise). The
 * fingerprint covers the fields and each file's name, type and SHA-256, not the boundary: the same
 * form sent again by another client fingerprints the same.
 */
export async function readMultipartBody(ctx: Context, spec: MultipartSpec, limits: MultipartLimits): Promise<MultipartBody> {
  const declared = Number(ctx.get('content-length') || 0);
  const bodyLimit = limits.fileBytes * spec.files.size + limits.fieldBytes;
  if (declared > bodyLimit) {
    throw new ProblemError(
      'payload-too-large',
      `The form is ${declared} bytes; it may have at most ${bodyLimit}: ${limits.fileBytes} bytes per file (the upload limit, UPLOAD_LIMIT_BYTES) and ${limits.fieldBytes} for the other parts.`,
    );
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: ctx.req.headers,
      defParamCharset: 'utf8',
      // busboy stops a file when it reaches fileSize: one byte more than allowed tells a file of exactly the limit from a larger one.
      limits: { fileSize: limits.fileBytes + 1, fieldSize: limits.fieldBytes, parts: MAX_PARTS, files: Math.max(1, spec.files.size) },
    });
  } catch (err) {
    throw new ProblemError('bad-request', `The multipart body cannot be read: ${(err as Error).message}.`);
  }

  // No prototype: a part named __proto__ is a field like any other (refused by the schema), never the object's prototype.
  const fields = Object.create(null) as Record<string, unknown>;
  const files = new Map<string, UploadedFile>();
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  const pointer = (name: string) => `/${escapeToken(name)}`;

  return new Promise<MultipartBody>((resolve, reject) => {
    let settled = false;
    const fail = (problem: ProblemError) => {
      if (settled) return;
      settled = true;
      // Nothing more is parsed or kept: the rest of the request is read and discarded (as Node does with a body
      // nobody reads), so that a client still sending gets the answer; HTTP_REQUEST_TIMEOUT_MS bounds how long.
      ctx.req.unpipe(parser);
      ctx.req.resume();
      parser.removeAllListeners();
      parser.on('error', () => {});
      reject(problem);
    };

    parser.on('file', (name: string | undefined, stream, info) => {
      // A form that ends inside a file fails the file too; the parser's own error says so.
      stream.on('error', (err) => fail(new ProblemError('bad-request', `The multipart body is malformed: ${err.message}.`)));
      const filename = printableName(info.filename ?? '') || 'upload';
      const accepted = name === undefined ? undefined : spec.files.get(name);
      if (name === undefined || !accepted || seen.has(name)) {
        const field = name ?? '(unnamed)';
        issues.push({
          pointer: pointer(field),
          in: 'body',
          detail: !accepted ? `Unexpected file part "${field}": this form takes no file there.` : `The file part "${field}" is sent more than once.`,
        });
        stream.resume();
        return;
      }
      seen.add(name);
      const contentType = effectiveType(info.mimeType, filename);
      if (!accepts(accepted, contentType)) {
        stream.resume();
        fail(new ProblemError('unsupported-media-type', `The file "${filename}" is ${contentType}; "${name}" accepts ${accepted.join(', ')}.`));
        return;
      }
      const chunks: Buffer[] = [];
      const hash = createHash('sha256');
      stream.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        hash.update(chunk);
      });
      stream.on('limit', () =>
        fail(
          new ProblemError('payload-too-large', `The file "${filename}" is larger than the upload limit of ${limits.fileBytes} bytes (UPLOAD_LIMIT_BYTES).`),
        ),
      );
      // 'end' comes before the parser's own 'close', which waits for every file to end.
      stream.on('end', () => {
        if (settled) return;
        if (chunks.length === 0) {
          issues.push({ pointer: pointer(name), in: 'body', detail: `The file "${filename}" is empty.` });
          return;
        }
        files.set(name, { kind: 'uploaded-file', filename, contentType, data: Buffer.concat(chunks), sha256: hash.digest('hex') });
      });
    });

    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) {
        fail(new ProblemError('payload-too-large', `The part "${name}" is larger than ${limits.fieldBytes} bytes.`));
        return;
      }
      if (spec.files.has(name)) {
        issues.push({ pointer: pointer(name), in: 'body', detail: `"${name}" must be a file part (with a filename), not a text field.` });
        return;
      }
      let parsed: unknown = value;
      if (spec.jsonFields.has(name)) {
        try {
          parsed = JSON.parse(value);
        } catch (err) {
          issues.push({ pointer: pointer(name), in: 'body', detail: `The part "${name}" is not valid JSON: ${(err as Error).message}` });
          return;
        }
      }
      const previous = fields[name];
      fields[name] = previous === undefined ? parsed : [...(Array.isArray(previous) ? (previous as unknown[]) : [previous]), parsed];
    });

    const tooMany = () =>
      fail(new ProblemError('payload-too-large', `The form has more than ${MAX_PARTS} parts, or more than ${Math.max(1, spec.files.size)} file parts.`));
    parser.on('partsLimit', tooMany);
    parser.on('filesLimit', tooMany);
    parser.on('error', (err: Error) => fail(new ProblemError('bad-request', `The multipart body is malformed: ${err.message}.`)));
    parser.on('close', () => {
      if (settled) return;
      if (issues.length) {
        fail(invalid(issues));
        return;
      }
      settled = true;
      const described = {
        fields: Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : 1)),
        files: [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, f]) => [name, f.filename, f.contentType, f.sha256]),
      };
      resolve({ fields, files, fingerprint: Buffer.from(JSON.stringify(described)) });
    });
    ctx.req.on('error', (err) => fail(new ProblemError('bad-request', `The body could not be read: ${err.message}.`)));
    ctx.req.pipe(parser);
  });
}
