import fc from 'fast-check';
import type { Fixtures } from './fixtures.js';
import { BOUNDARY, encodeMultipart, MULTIPART, multipartVariants } from './multipart.js';
import type { Media, Operation, Parameter } from './spec.js';
import { HUGE_STRING, LOOPBACK_URLS, NASTY_STRINGS, mutate, rawBodyVariants, rawJson, valueOf } from './values.js';

/**
 * `routed`: the path still matches its template (odd segments may make the router answer 404/405);
 * `framed`: the message is valid HTTP/1.1 (when not, Node's parser answers 400 before any route).
 */
export type FuzzRequest = { method: string; path: string; headers: [string, string][]; body?: string | Buffer; routed: boolean; framed: boolean };

/** Percent-encodes the UTF-8 bytes of `s` (a lone surrogate becomes U+FFFD, as any client would send it). */
const encode = (s: string) =>
  [...Buffer.from(s, 'utf8')]
    .map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');

/** Header values Node's client can send: other characters are dropped (bytes Node refuses are not this suite's subject). */
const headerSafe = (s: string) => s.replace(/[^\t\x20-\x7e\x80-\xff]/g, '').slice(0, 8000);

/** Parameters whose valid values make the server wait (long polling): valid ones are kept at the minimum (answer at once) so a case stays short. */
const LONG_POLL = new Set(['wait']);

const TYPEID = /^([a-z]+)_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
const prefixOf = (pattern: string) => /^\^([a-z]+)_/.exec(pattern)?.[1];

export function knownIds(fixtures: Fixtures) {
  return (pattern: string) => {
    const prefix = prefixOf(pattern);
    return prefix ? (fixtures.ids.get(prefix) ?? []) : [];
  };
}

/** The spec's example with its ids replaced by seeded ones of the same type, and its URLs by loopback ones. */
function localize(example: unknown, fixtures: Fixtures, pick: number): unknown {
  if (typeof example === 'string') {
    const prefix = TYPEID.exec(example)?.[1];
    const ids = prefix ? fixtures.ids.get(prefix) : undefined;
    if (ids?.length) return ids[pick % ids.length];
    return /^https?:\/\//.test(example) ? LOOPBACK_URLS[pick % LOOPBACK_URLS.length] : example;
  }
  if (Array.isArray(example)) return example.map((e) => localize(e, fixtures, pick));
  if (example && typeof example === 'object') return Object.fromEntries(Object.entries(example).map(([k, v]) => [k, localize(v, fixtures, pick)]));
  return example;
}

const stringify = (v: unknown) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));

const UNICODE_SEGMENT = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });
const UNICODE_VALUE = fc.string({ unit: 'grapheme', maxLength: 30 }).map((v) => [v]);

type Segment = { segment: string; routed: boolean };
const segment = (a: fc.Arbitrary<string>): fc.Arbitrary<Segment> => a.map((s) => ({ segment: encode(s), routed: s.length > 0 }));

/** A path value that reaches a real resource, or a well-formed one that names nothing. */
function validPath(param: Parameter, fixtures: Fixtures): fc.Arbitrary<Segment> {
  const known = knownIds(fixtures)(param.schema.pattern ?? '');
  const generated = segment(valueOf(param.schema, () => [], param.name).map(stringify));
  return known.length ? fc.oneof({ arbitrary: segment(fc.constantFrom(...known)), weight: 6 }, { arbitrary: generated, weight: 1 }) : generated;
}

/** Path values that are wrong: another type's id, a wrong length or case, odd strings, encoded separators. */
function invalidPath(param: Parameter, fixtures: Fixtures): fc.Arbitrary<Segment> {
  const prefix = param.schema.pattern ? prefixOf(param.schema.pattern) : undefined;
  const others = [...fixtures.ids.entries()].filter(([p]) => p !== prefix).flatMap(([, ids]) => ids);
  const near = prefix
    ? [
        `${prefix}_01JD4X7P2KF8Q6V3B9M5T0S1AB`,
        `${prefix}_01jd4x7p2kf8q6v3b9m5t0s1a`,
        `${prefix}_01jd4x7p2kf8q6v3b9m5t0s1abc`,
        `${prefix}_81jd4x7p2kf8q6v3b9m5t0s1ab`,
        `${prefix}_`,
        prefix,
        `${prefix}_01jd4x7p2kf8q6v3b9m5t0s1ab `,
      ]
    : ['0', '-1', '1.5', '1e3', '99999999999999999999', '0x10', ' 1', 'abc', '1,2'];
  const encoded = fc
    .constantFrom('%2F', '..%2F..%2Fhealthz', '%2e%2e', '%2E', '%252F', 'a%2Fb', '%00', '%ZZ', '%', '%C0%AE', 'x%2Fpause', '.', '..')
    .map((s) => ({ segment: s, routed: false }));
  return fc.oneof(
    segment(fc.constantFrom(...near)),
    segment(others.length ? fc.constantFrom(...others) : fc.constant('x')),
    segment(fc.constantFrom(...NASTY_STRINGS.filter(Boolean), HUGE_STRING.slice(0, 6000))),
    segment(UNICODE_SEGMENT),
    encoded,
  );
}

/** Values of a declared query or header parameter that its schema accepts (repeated for arrays). */
function validParam(param: Parameter, fixtures: Fixtures): fc.Arbitrary<string[]> {
  const schema = LONG_POLL.has(param.name) ? { ...param.schema, maximum: param.schema.minimum ?? 0 } : param.schema;
  const generated = valueOf(schema, knownIds(fixtures), param.name).map((v) => (Array.isArray(v) ? v.map(stringify) : [stringify(v)]));
  return param.example === undefined || LONG_POLL.has(param.name)
    ? generated
    : fc.oneof(fc.constant<string[]>([stringify(localize(param.example, fixtures, 0))]), generated);
}

/** Values of a declared parameter that are wrong: odd strings, wrong types, out of range, repeated, empty. */
function invalidParam(param: Parameter, fixtures: Fixtures): fc.Arbitrary<string[]> {
  return fc.oneof(
    fc.constantFrom(...NASTY_STRINGS, '1.5', '-5', '1e3', '99999999999999999999', 'abc', 'true', '[]', '{}', HUGE_STRING.slice(0, 5000)).map((v) => [v]),
    UNICODE_VALUE,
    fc.tuple(validParam(param, fixtures), validParam(param, fixtures)).map(([a, b]) => [...a, ...b]),
  );
}

type Credentials = { headers: [string, string][]; query: [string, string][] };

/** The credential the operation expects (several ways of sending it for event streams). */
function validCredentials(op: Operation, fixtures: Fixtures): fc.Arbitrary<Credentials> {
  const bearer = (t: string): Credentials => ({ headers: [['Authorization', `Bearer ${t}`]], query: [] });
  // The page of this server a person uses: its cookies, its CSRF token, its own Origin. logOut ends its session: it has one of its own.
  const { cookie, csrfToken } = op.operationId === 'logOut' ? fixtures.logoutSession : fixtures.session;
  const session: Credentials = {
    headers: [
      ['Cookie', cookie],
      ['X-CSRF-Token', csrfToken],
    ],
    query: [],
  };
  switch (op.credential) {
    case 'runner':
      return fc.constant(bearer(fixtures.runnerToken));
    case 'run':
      return fc.constant(bearer(fixtures.runToken));
    case 'app':
      return fc.constantFrom(bearer(fixtures.adminKey), { headers: [['X-API-Token', fixtures.adminKey]], query: [] }, bearer(fixtures.personalToken), session);
    case 'stream':
      return fc.constantFrom(bearer(fixtures.adminKey), { headers: [], query: [['token', fixtures.adminKey]] }, session);
    case 'user':
      return fc.constantFrom(session, bearer(fixtures.personalToken));
    case 'session':
      return fc.constant(session);
    case 'none':
      // Public operations: nothing, or the trigger token public inbound calls authenticate with.
      return fc.constantFrom({ headers: [], query: [] }, bearer(fixtures.triggerToken));
  }
}

function invalidCredentials(fixtures: Fixtures): fc.Arbitrary<Credentials> {
  const bearer = (t: string): Credentials => ({ headers: [['Authorization', `Bearer ${t}`]], query: [] });
  return fc.constantFrom<Credentials>(
    { headers: [], query: [] },
    bearer(`sbk_${'A'.repeat(43)}`),
    bearer(`sbr_${'b'.repeat(43)}`),
    bearer(`sbp_${'c'.repeat(43)}`),
    { headers: [['Cookie', `sb_session=sbs_${'d'.repeat(43)}`]], query: [] },
    { headers: [['Cookie', fixtures.session.cookie]], query: [] },
    {
      headers: [
        ['Cookie', fixtures.session.cookie],
        ['X-CSRF-Token', 'e'.repeat(43)],
      ],
      query: [],
    },
    bearer('sbk_short'),
    bearer(''),
    { headers: [['Authorization', `Basic ${Buffer.from('a:b').toString('base64')}`]], query: [] },
    { headers: [['Authorization', 'Bearer']], query: [] },
    {
      headers: [
        ['Authorization', `Bearer ${fixtures.adminKey}`],
        ['Authorization', `Bearer ${fixtures.runnerToken}`],
      ],
      query: [],
    },
    bearer(fixtures.runnerToken),
    bearer(fixtures.adminKey),
    bearer(fixtures.triggerToken),
    {
      headers: [
        ['X-API-Token', 'garbage'],
        ['Authorization', `Bearer ${fixtures.adminKey}`],
      ],
      query: [],
    },
    { headers: [], query: [['token', fixtures.adminKey]] },
    { headers: [], query: [['token', 'sbk_nope']] },
  );
}

const contentTypeVariants = (first: string) =>
  fc.constantFrom<string | null>(
    `${first}; charset=latin1`,
    `${first}; charset=utf-16`,
    `${first}; charset=bogus`,
    'application/problem+json',
    'application/jsonx',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/xml',
    'foo',
    'application/',
    '*/*',
    '',
    ';;;',
    null,
  );

type Body = { type: string | null; text?: string | Buffer };

/** A body the media type's schema accepts: the spec's examples (with seeded ids), or generated from the schema. */
function validBody(media: Media, fixtures: Fixtures): fc.Arbitrary<unknown> {
  const generated = valueOf(media.schema, knownIds(fixtures));
  if (!media.examples.length) return generated;
  const examples = fc.tuple(fc.constantFrom(...media.examples), fc.nat()).map(([e, pick]) => localize(e, fixtures, pick));
  return fc.oneof({ arbitrary: examples, weight: 2 }, { arbitrary: generated, weight: 1 });
}

/** The declared type, as clients write it (a form's with its boundary). */
function validContentType(type: string): fc.Arbitrary<string> {
  const declared = type === MULTIPART ? `${type}; boundary=${BOUNDARY}` : type;
  const variants =
    type === MULTIPART
      ? [`${type}; charset=utf-8; boundary=${BOUNDARY}`, `${type.toUpperCase()}; boundary="${BOUNDARY}"`]
      : [`${type}; charset=utf-8`, `${type};charset="UTF-8"`, type.toUpperCase()];
  return fc.oneof({ arbitrary: fc.constant(declared), weight: 4 }, fc.constantFrom(...variants));
}

/** A request body (raw bytes) and its content type, correct or broken in the way `focus` says. */
function body(op: Operation, fixtures: Fixtures, focus: Focus): fc.Arbitrary<Body> {
  const declared = Object.keys(op.body.content);
  if (declared.length === 0) {
    if (focus !== 'body' && focus !== 'contentType') return fc.constant({ type: null });
    return fc.constantFrom<Body>(
      { type: 'application/json', text: '{}' },
      { type: 'application/json', text: '{"a":1}' },
      { type: 'application/json', text: 'garbage' },
      { type: 'text/plain', text: 'hello' },
      { type: null, text: 'x' },
    );
  }
  // One arbitrary per declared media type: a form is written as a form, JSON as JSON.
  const forType = (mediaType: string): fc.Arbitrary<Body> => {
    const media = op.body.content[mediaType]!;
    const valid = validBody(media, fixtures);
    const form = mediaType === MULTIPART;
    const encode = (v: unknown): string | Buffer => (form ? encodeMultipart(v, media.schema) : rawJson(v));
    const variants = (v: unknown) => (form ? multipartVariants(encodeMultipart(v, media.schema), media.schema) : rawBodyVariants(rawJson(v)));
    const type = focus === 'contentType' ? contentTypeVariants(declared[0]!) : validContentType(mediaType);
    const text: fc.Arbitrary<string | Buffer | undefined> =
      focus === 'body'
        ? fc.oneof(
            { arbitrary: valid.chain(mutate).map(encode), weight: 3 },
            { arbitrary: valid.chain(variants), weight: 2 },
            { arbitrary: fc.constant(undefined), weight: 1 },
          )
        : valid.map(encode);
    return fc.record({ type, text });
  };
  return fc.oneof(...declared.map(forType));
}

/** Extra headers no parameter declares: versions, content negotiation, correlation ids, noise. */
const extraHeaders = fc.array(
  fc.constantFrom<[string, string]>(
    ['Switchboard-Version', '2020-01-01'],
    ['Switchboard-Version', 'garbage'],
    ['Accept', 'application/xml'],
    ['Accept', 'text/event-stream'],
    ['Accept', '*/*;q=0'],
    ['Accept-Encoding', 'gzip, br'],
    ['X-Request-Id', 'corr-123'],
    ['X-Request-Id', 'x'.repeat(2000)],
    ['If-None-Match', '*'],
    ['Origin', 'http://127.0.0.1:9'],
    ['X-Forwarded-For', '127.0.0.1, ::1'],
    ['__proto__', 'x'],
    ['constructor', 'x'],
    ['Prefer', 'code=500'],
    // With a Content-Length, or in a request at all, HTTP/1.1 forbids it: the message is malformed.
    ['Transfer-Encoding', 'identity'],
  ),
  { minLength: 1, maxLength: 3 },
);

const unknownQuery = fc.array(
  fc.tuple(
    fc.constantFrom('foo', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'page[0]', 'sort[]', '', 'a.b', '%00'),
    fc.constantFrom('1', '', 'x', '__proto__'),
  ),
  { minLength: 1, maxLength: 2 },
);

/**
 * What one case breaks: nothing, or one part of the request (so that everything else is valid and
 * the broken part reaches the code that reads it); `all` breaks every part at once.
 */
type Focus = 'none' | 'path' | 'query' | 'headers' | 'credentials' | 'body' | 'contentType' | 'extras' | 'all';

/** Every request the fuzzer sends to `op`: built only from the operation's own parameters and schemas. */
export function requestsFor(op: Operation, fixtures: Fixtures): fc.Arbitrary<FuzzRequest> {
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  const headerParams = op.parameters.filter((p) => p.in === 'header');
  const focuses: Focus[] = ['path', 'query', 'headers', 'credentials', 'body', 'contentType', 'extras', 'all'];
  const params = (list: Parameter[], broken: boolean) =>
    fc.tuple(
      ...list.map((p) => {
        const valid = p.required ? validParam(p, fixtures) : fc.option(validParam(p, fixtures), { nil: undefined, freq: 2 });
        return broken ? fc.oneof(valid, p.required ? invalidParam(p, fixtures) : fc.option(invalidParam(p, fixtures), { nil: undefined, freq: 2 })) : valid;
      }),
    );
  const forFocus = (f: Focus) => {
    const broken = (part: Focus) => f === part || f === 'all';
    return fc
      .record({
        path: fc.tuple(...pathParams.map((p) => (broken('path') ? fc.oneof(validPath(p, fixtures), invalidPath(p, fixtures)) : validPath(p, fixtures)))),
        query: params(queryParams, broken('query')),
        headers: params(headerParams, broken('headers')),
        unknownQuery: broken('query') ? fc.oneof(fc.constant([] as [string, string][]), unknownQuery) : fc.constant([] as [string, string][]),
        credentials: broken('credentials') ? invalidCredentials(fixtures) : validCredentials(op, fixtures),
        body: body(op, fixtures, f === 'all' ? 'body' : f),
        extra: broken('extras') ? extraHeaders : fc.constant([] as [string, string][]),
      })
      .map((r) => {
        let path = op.path;
        pathParams.forEach((p, i) => (path = path.replace(`{${p.name}}`, r.path[i]!.segment)));
        const query: [string, string][] = [...r.credentials.query, ...r.unknownQuery];
        queryParams.forEach((p, i) => r.query[i]?.forEach((v) => query.push([p.name, v])));
        const search = query.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&');
        const headers: [string, string][] = [...r.credentials.headers, ...r.extra];
        headerParams.forEach((p, i) => r.headers[i]?.forEach((v) => headers.push([p.name, headerSafe(v)])));
        if (r.body.type !== null) headers.push(['Content-Type', r.body.type]);
        const framed = !headers.some(([name]) => name.toLowerCase() === 'transfer-encoding');
        return { method: op.method, path: search ? `${path}?${search}` : path, headers, body: r.body.text, routed: r.path.every((s) => s.routed), framed };
      });
  };
  // Built once per focus: building the schema-derived arbitraries is what costs, not drawing from them.
  return fc.oneof({ arbitrary: forFocus('none'), weight: focuses.length }, ...focuses.map((f) => forFocus(f)));
}
