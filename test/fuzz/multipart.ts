import fc from 'fast-check';
import { resolve, type Schema } from './spec.js';
import { HUGE_STRING, rawJson } from './values.js';

/** `multipart/form-data` bodies: a generated value written as a form (files where the schema says binary), and forms broken on purpose. */
export const MULTIPART = 'multipart/form-data';
export const BOUNDARY = 'fuzzBoundary7MA4YWxkTrZu0gW';

const quoted = (name: string) => name.replace(/"/g, '%22').replace(/[\r\n]/g, ' ');
const text = (value: unknown) => (typeof value === 'string' ? value : rawJson(value));

const textPart = (name: string, value: unknown) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${quoted(name)}"\r\n\r\n${text(value)}\r\n`;
const filePart = (name: string, value: unknown, type = 'audio/wav') =>
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${quoted(name)}"; filename="audio.wav"\r\nContent-Type: ${type}\r\n\r\n${text(value)}\r\n`;
const END = `--${BOUNDARY}--\r\n`;

const isBinary = (schema: Schema | undefined) => schema !== undefined && resolve(schema).format === 'binary';

/**
 * The value as a form: one part per member (an array is one part per item, as clients send
 * repeated fields), a file part where the schema declares a binary member, JSON text for objects.
 * A value that is not an object is sent as a single text part.
 */
export function encodeMultipart(value: unknown, schema: Schema): Buffer {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return Buffer.from(textPart('value', value) + END);
  const properties = resolve(schema).properties ?? {};
  const parts = Object.entries(value).flatMap(([name, member]) => {
    if (isBinary(properties[name])) return [filePart(name, member)];
    return Array.isArray(member) && resolve(properties[name] ?? {}).type === 'array' ? member.map((item) => textPart(name, item)) : [textPart(name, member)];
  });
  return Buffer.from(parts.join('') + END);
}

/** Forms no schema describes: broken framing, files where text goes and the reverse, parts without names, oversized fields. */
export function multipartVariants(valid: Buffer, schema: Schema): fc.Arbitrary<Buffer> {
  const properties = Object.entries(resolve(schema).properties ?? {});
  const fileField = properties.find(([, s]) => isBinary(s))?.[0] ?? 'file';
  const textField = properties.find(([, s]) => !isBinary(s))?.[0] ?? 'model';
  const body = valid.toString('latin1');
  return fc
    .oneof(
      fc.constantFrom(
        '',
        END,
        `--${BOUNDARY}\r\n`,
        'not a form at all',
        `--otherBoundary\r\nContent-Disposition: form-data; name="${textField}"\r\n\r\nx\r\n--otherBoundary--\r\n`,
        `--${BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n${END}`,
        `--${BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nno name\r\n${END}`,
        `--${BOUNDARY}\r\nContent-Disposition: attachment; name="${textField}"\r\n\r\nx\r\n${END}`,
        `--${BOUNDARY}\r\nBroken header line\r\n\r\nx\r\n${END}`,
        textPart(fileField, 'text where a file goes') + END,
        filePart(textField, 'a file where text goes') + filePart(fileField, 'RIFF') + END,
        filePart(fileField, 'RIFF') + filePart(fileField, 'RIFF') + END,
        filePart(fileField, 'RIFF', 'text/html') + END,
        filePart(fileField, 'RIFF', 'application/octet-stream') + END,
        textPart(textField, HUGE_STRING.repeat(11)) + END,
        textPart('__proto__', '{"admin":true}') + filePart(fileField, 'RIFF') + END,
      ),
      // Cut anywhere, or missing its closing boundary.
      fc.nat({ max: Math.max(0, body.length - 1) }).map((n) => body.slice(0, n)),
      fc.constant(body.replace(END, '')),
    )
    .map((s) => Buffer.from(s, 'latin1'));
}
