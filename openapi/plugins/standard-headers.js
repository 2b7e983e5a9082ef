import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';

/**
 * The response headers the server sets around every operation, stated here once instead of in
 * each response: the `add` decorator writes them into the bundle, and the `hand-written` rule
 * keeps the source free of them. Each entry says, for one operation's response, whether the
 * server always sends the header (`required`), may send it (`optional`), or never does
 * (undefined). The definitions are the files in components/headers.
 */
const STANDARD_HEADERS = {
  // Set by the first middleware, before anything can fail.
  'Request-Id': () => 'required',
  // Set before authentication fails; only a 500 may come from the limiter itself failing.
  RateLimit: ({ rateLimited, status }) => (rateLimited ? (status === '500' ? 'optional' : 'required') : undefined),
  'RateLimit-Policy': ({ rateLimited, status }) => (rateLimited ? (status === '500' ? 'optional' : 'required') : undefined),
  // Only the rate limiter's refusal says when to come back.
  'Retry-After': ({ status }) => (status === '429' ? 'required' : undefined),
  // Set first on every versioned operation (see `versioned`); the other three when its version is deprecated.
  'Switchboard-Version': ({ versioned }) => (versioned ? 'required' : undefined),
  Deprecation: ({ versioned }) => (versioned ? 'optional' : undefined),
  Sunset: ({ versioned }) => (versioned ? 'optional' : undefined),
  Link: ({ versioned }) => (versioned ? 'optional' : undefined),
};

/**
 * The operations that speak a dated version of the API: those under /api/v1 but the AI gateway's,
 * which speak their providers' formats.
 */
const versioned = (path) => path.startsWith('/api/v1/') && !path.startsWith('/api/v1/llm/');

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const RESPONSE_REF = /^#\/components\/responses\/([^/]+)$/;

const definition = (name) => yaml.load(readFileSync(new URL(`../components/headers/${name}.yaml`, import.meta.url), 'utf8'));

/** The standard headers one operation's response carries: a reference, or an optional copy of the definition. */
function headersFor(path, operation, status, definitions) {
  const facts = { rateLimited: Boolean(operation['x-rate-limit-category']), versioned: versioned(path), status };
  const headers = {};
  for (const [name, presence] of Object.entries(STANDARD_HEADERS)) {
    const how = presence(facts);
    if (how === 'required') headers[name] = { $ref: `#/components/headers/${name}` };
    if (how === 'optional') headers[name] = { ...definitions[name], required: false };
  }
  return headers;
}

const sameHeaders = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Runs on the bundled document (every reference local by then). An inline response gets its
 * headers in place; a shared response gets them once, which is only right when every operation
 * using it needs the same ones: otherwise the bundle fails and names them (split the response,
 * as the System* responses are split from the rate-limited ones).
 */
function AddStandardHeaders() {
  return {
    Root: {
      leave(root) {
        const definitions = Object.fromEntries(Object.keys(STANDARD_HEADERS).map((name) => [name, definition(name)]));
        const shared = new Map();
        const referenced = new Set();
        for (const [path, item] of Object.entries(root.paths ?? {})) {
          for (const method of METHODS.filter((m) => item[m])) {
            const operation = item[method];
            for (const [status, response] of Object.entries(operation.responses ?? {})) {
              const headers = headersFor(path, operation, status, definitions);
              for (const [name, header] of Object.entries(headers)) if (header.$ref) referenced.add(name);
              const ref = typeof response.$ref === 'string' && RESPONSE_REF.exec(response.$ref);
              if (!ref) {
                response.headers = { ...headers, ...response.headers };
                continue;
              }
              const user = `${method.toUpperCase()} ${path} ${status}`;
              const earlier = shared.get(ref[1]);
              if (earlier && !sameHeaders(earlier.headers, headers)) {
                throw new Error(
                  `components/responses/${ref[1]} needs different standard headers for ${earlier.user} and ${user}: use one shared response for each.`,
                );
              }
              shared.set(ref[1], earlier ?? { headers, user });
            }
          }
        }
        for (const [name, { headers }] of shared) {
          const response = root.components.responses[name];
          response.headers = { ...headers, ...response.headers };
        }
        const headers = { ...root.components.headers };
        for (const name of referenced) headers[name] = definitions[name];
        root.components.headers = Object.fromEntries(Object.entries(headers).sort(([a], [b]) => a.localeCompare(b)));
      },
    },
  };
}

/** The source never states a standard header itself: the decorator is the one place. */
function NoHandWrittenStandardHeaders() {
  const names = new Set(Object.keys(STANDARD_HEADERS).map((name) => name.toLowerCase()));
  return {
    Response: {
      enter(response, ctx) {
        for (const name of Object.keys(response.headers ?? {})) {
          if (!names.has(name.toLowerCase())) continue;
          ctx.report({
            message: `${name} is a standard response header: plugins/standard-headers.js adds it to every response that carries it; do not declare it by hand.`,
            location: ctx.location.child(['headers', name]).key(),
          });
        }
      },
    },
  };
}

export default function standardHeaders() {
  return {
    id: 'standard-headers',
    decorators: { oas3: { add: AddStandardHeaders } },
    rules: { oas3: { 'hand-written': NoHandWrittenStandardHeaders } },
  };
}
