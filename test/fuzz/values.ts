import fc from 'fast-check';
import { resolve, type Schema } from './spec.js';

/**
 * Loopback URLs only: a generated URL may be stored as a webhook endpoint or an agent's URL and
 * then called, and no test ever connects outside loopback. Port 9 (discard) has no listener here.
 */
export const LOOPBACK_URLS = ['http://127.0.0.1:9/hook', 'https://127.0.0.1:9/a?b=c', 'http://[::1]:9/', 'http://localhost:9/x'];

const isUrl = (schema: Schema, name: string) => schema.format === 'uri' || schema.format === 'url' || /url$/i.test(name);

/** Strings that have broken parsers, lookups and encoders elsewhere. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'prototype',
  '\u0000',
  '\ud800',
  '\udfff',
  'a\ud83d',
  '😀'.repeat(50),
  'ﬀ İ ß Σ',
  '\u202e\u200b\ufeff',
  '../../etc/passwd',
  '%00',
  "'; DROP TABLE agents; --",
  '${7*7}{{7*7}}',
  '<script>alert(1)</script>',
  'null',
  'true',
  '0',
  '-1',
  '1e400',
  'NaN',
  '\r\n',
];

export const HUGE_STRING = 'x'.repeat(100_000);

/**
 * Values JSON.stringify cannot write (numbers such as `1e400` and `-0`, nesting deeper than its
 * stack): placeholders substituted into the raw body text, so the server's parser receives them as written.
 */
const RAW_TEXT: Record<string, string> = {
  '@@1e400@@': '1e400',
  '@@-0@@': '-0',
  '@@bigint@@': '123456789012345678901234567890',
  '@@1e-400@@': '1e-400',
  '@@1E+2@@': '1E+2',
  // Nesting deeper than a recursive parser's or serializer's stack.
  '@@deep-arrays@@': '['.repeat(3000) + ']'.repeat(3000),
  '@@deeper-arrays@@': '['.repeat(20000) + ']'.repeat(20000),
  '@@deep-objects@@': '{"a":'.repeat(3000) + '1' + '}'.repeat(3000),
  '@@deeper-objects@@': '{"a":'.repeat(20000) + '1' + '}'.repeat(20000),
};
const RAW_VALUES = Object.keys(RAW_TEXT);
const DEEP_VALUES = RAW_VALUES.filter((p) => p.includes('deep'));

/** Free-form JSON (a run's input, metadata, config): small documents, and now and then a very deep one. */
const FREE_FORM = (maxDepth: number) =>
  fc.oneof({ arbitrary: fc.jsonValue({ maxDepth }), weight: 6 }, { arbitrary: fc.constantFrom(...DEEP_VALUES), weight: 1 });

/** Values of every JSON type, and the ones JSON parsers disagree on (as raw JSON text, see `rawJson`). */
const ODD_VALUE: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    2 ** 31,
    2 ** 53 + 1,
    Number.MAX_SAFE_INTEGER,
    -Number.MAX_VALUE,
    [],
    {},
    [null],
    { a: null },
    HUGE_STRING,
  ),
  fc.constantFrom(...NASTY_STRINGS),
  fc.constantFrom(...RAW_VALUES),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer(),
  fc.double(),
);

function stringFor(schema: Schema, name: string): fc.Arbitrary<string> {
  if (isUrl(schema, name)) return fc.constantFrom(...LOOPBACK_URLS);
  if (schema.format === 'date-time')
    return fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString());
  if (schema.format === 'email') return fc.constantFrom('a@example.test', 'ops+x@mail.example.test');
  const maxLength = Math.min(schema.maxLength ?? 40, 40);
  const minLength = Math.min(schema.minLength ?? 0, maxLength);
  if (schema.pattern) {
    try {
      return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length >= minLength && s.length <= (schema.maxLength ?? Infinity));
    } catch {
      // A pattern fast-check cannot generate from: plain strings of the right length instead.
    }
  }
  return fc.string({ minLength, maxLength });
}

/**
 * Values that conform to `schema` (or nearly: patterns' lengths are approximate), with real ids
 * from `known` where a string's pattern names one of the seeded resources' prefixes.
 */
export function valueOf(schemaOrRef: Schema, known: (pattern: string) => string[], name = '', depth = 0): fc.Arbitrary<unknown> {
  const schema = resolve(schemaOrRef);
  if (depth > 4) return fc.constant(null);
  if ('const' in schema) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches) return fc.oneof(...branches.map((b) => valueOf(b, known, name, depth + 1)));
  if (schema.allOf) {
    const merged: Schema = { type: 'object', properties: {}, required: [] };
    for (const part of schema.allOf.map((p) => resolve(p))) {
      Object.assign(merged.properties!, part.properties ?? {});
      merged.required!.push(...(part.required ?? []));
    }
    return valueOf(merged, known, name, depth + 1);
  }
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (types.length > 1) return fc.oneof(...types.map((type) => valueOf({ ...schema, type }, known, name, depth)));
  switch (types[0]) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? -1_000_000;
      const max = schema.maximum ?? 1_000_000;
      const bounds = fc.constantFrom(min, max);
      return types[0] === 'integer' ? fc.oneof(bounds, fc.integer({ min, max })) : fc.oneof(bounds, fc.double({ min, max, noNaN: true }));
    }
    case 'string': {
      const ids = schema.pattern ? known(schema.pattern) : [];
      const plain = stringFor(schema, name);
      return ids.length ? fc.oneof({ arbitrary: fc.constantFrom(...ids), weight: 3 }, { arbitrary: plain, weight: 1 }) : plain;
    }
    case 'array': {
      const items = schema.items ? valueOf(schema.items, known, name, depth + 1) : FREE_FORM(1);
      return fc.array(items, { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 3, Math.max(3, schema.minItems ?? 0)) });
    }
    case 'object': {
      const props = schema.properties ?? {};
      const record = fc.record(Object.fromEntries(Object.entries(props).map(([key, s]) => [key, valueOf(s, known, key, depth + 1)])), {
        requiredKeys: (schema.required ?? []).filter((k) => k in props),
      });
      if (schema.additionalProperties === false || Object.keys(props).length) return record;
      const extra = typeof schema.additionalProperties === 'object' ? valueOf(schema.additionalProperties, known, name, depth + 1) : FREE_FORM(2);
      return fc.dictionary(fc.string({ maxLength: 10 }), extra, { maxKeys: 4 });
    }
    default:
      return FREE_FORM(3);
  }
}

type Json = unknown;

/** One change that makes a value (probably) invalid: a wrong type, a missing or extra key, an odd value. */
export function mutate(value: Json): fc.Arbitrary<Json> {
  const options: fc.Arbitrary<Json>[] = [ODD_VALUE];
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const obj = value as Record<string, Json>;
    if (keys.length) {
      options.push(fc.tuple(fc.constantFrom(...keys), ODD_VALUE).map(([k, v]) => ({ ...obj, [k]: v })));
      options.push(fc.constantFrom(...keys).map((k) => Object.fromEntries(Object.entries(obj).filter(([key]) => key !== k))));
      options.push(fc.constantFrom(...keys).chain((k) => mutate(obj[k]).map((v) => ({ ...obj, [k]: v }))));
    }
    options.push(
      fc.tuple(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'unknownField', ''), ODD_VALUE).map(([k, v]) => {
        const copy = { ...obj };
        Object.defineProperty(copy, k, { value: v, enumerable: true, configurable: true, writable: true });
        return copy;
      }),
    );
  }
  if (Array.isArray(value)) {
    options.push(ODD_VALUE.map((v) => [...value, v]));
    if (value.length) options.push(fc.nat({ max: value.length - 1 }).chain((i) => mutate(value[i]).map((v) => value.map((x, j) => (i === j ? v : x)))));
  }
  return fc.oneof(...options);
}

/** Serializes `value`, then writes the raw placeholders as the values they stand for. */
export function rawJson(value: Json): string {
  let text = JSON.stringify(value) ?? 'null';
  for (const [placeholder, raw] of Object.entries(RAW_TEXT)) if (text.includes(placeholder)) text = text.split(JSON.stringify(placeholder)).join(raw);
  return text;
}

/** Raw body texts that no schema describes: syntax errors, duplicate keys, deep nesting, odd encodings. */
export function rawBodyVariants(valid: string): fc.Arbitrary<string | Buffer> {
  return fc.oneof(
    fc.constantFrom<string | Buffer>(
      '',
      ' ',
      '{',
      '{"a":}',
      'null',
      '[]',
      '"just a string"',
      'not json',
      "{'single': 'quotes'}",
      '{"a":1}garbage',
      '{"a":"\\ud800"}',
      '{"a":"\\u0000"}',
      '{"__proto__":{"admin":true}}',
      '{"constructor":{"prototype":{"admin":true}}}',
      ...RAW_VALUES.map((p) => RAW_TEXT[p]!),
      Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
      Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]),
      Buffer.from('\ufeff{}', 'utf8'),
      Buffer.from('{}', 'utf16le'),
    ),
    // Duplicate keys: the same field twice, the second (or first) with an odd value.
    fc.constant(valid).map((v) => (v.startsWith('{') && v.length > 2 ? v.replace(/^\{("[^"]+"):([^,}]+)/, '{$1:$2,$1:null') : v)),
    fc.constant(valid).map((v) => (v.startsWith('{') && v.length > 2 ? v.replace(/^\{("[^"]+"):/, '{$1:{"nested":[1,2]},$1:') : v)),
    // Truncated and padded: a body cut anywhere, and one past the 1 MiB limit.
    fc.nat({ max: Math.max(0, valid.length - 1) }).map((n) => valid.slice(0, n)),
    fc.constant(valid).map((v) => (v.startsWith('{') ? `{"pad":"${'p'.repeat(2 * 1024 * 1024)}",${v.slice(1)}` : `[${'1,'.repeat(1024 * 1024)}1]`)),
  );
}
