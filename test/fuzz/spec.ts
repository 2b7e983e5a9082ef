import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolvePointer } from '../../server/src/util/json-pointer.js';

/** A JSON Schema of the bundled spec, with its local `$ref`s resolved on access (see `resolve`). */
export type Schema = {
  $ref?: string;
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  format?: string;
  example?: unknown;
  examples?: unknown[];
};

export type Parameter = { name: string; in: 'path' | 'query' | 'header'; required: boolean; schema: Schema; example?: unknown };

/** A request body's media type: its schema and the spec's example values. */
export type Media = { schema: Schema; examples: unknown[] };

export type Operation = {
  operationId: string;
  method: string;
  /** The path template, e.g. `/api/v1/agents/{agentId}`. */
  path: string;
  parameters: Parameter[];
  /** Media types of the request body with their schemas; empty when the operation takes none. */
  body: { required: boolean; content: Record<string, Media> };
  statuses: Set<number>;
  /**
   * `none` (public), `runner` (runner token), `app` (application key, personal token or session
   * cookie), `stream` (the same, also as `?token=`), `user` (a person: session cookie or personal
   * token), `session` (a session cookie only).
   */
  credential: 'none' | 'runner' | 'run' | 'app' | 'stream' | 'user' | 'session';
  /** Answers `text/event-stream`: the fuzzer stops reading after the headers. */
  streams: boolean;
  /** How its errors are written (`x-error-format`): RFC 9457 problems, or a provider's envelope (the gateway). */
  errorFormat: 'problem' | 'openai' | 'anthropic';
};

const require = createRequire(import.meta.url);
type Spec = {
  security?: Record<string, string[]>[];
  paths: Record<string, Record<string, unknown>>;
  components: Record<string, Record<string, unknown>>;
};
const spec = JSON.parse(readFileSync(require.resolve('@switchboard/openapi/dist/openapi.json'), 'utf8')) as Spec;

/** Follows a local `$ref` (`#/components/...`); other nodes are returned as they are. */
export function resolve<T>(node: T): T {
  let current = node as { $ref?: string };
  while (current && typeof current.$ref === 'string') {
    current = resolvePointer(spec, current.$ref.replace(/^#/, '')).value as { $ref?: string };
  }
  return current as T;
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];

function credentialOf(security: Record<string, string[]>[] | undefined, credential: unknown): Operation['credential'] {
  const schemes = (security ?? spec.security ?? []).flatMap((s) => Object.keys(s));
  if (schemes.length === 0) return 'none';
  if (credential === 'user' || credential === 'session' || credential === 'run') return credential;
  if (schemes.includes('runnerToken')) return 'runner';
  return schemes.includes('tokenQuery') ? 'stream' : 'app';
}

/** Every operation of the bundled spec, in the spec's order. */
export function operations(): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    const shared = (item.parameters as Parameter[] | undefined) ?? [];
    for (const method of METHODS) {
      const op = item[method] as
        | {
            operationId: string;
            parameters?: Parameter[];
            requestBody?: unknown;
            responses: Record<string, unknown>;
            security?: Record<string, string[]>[];
            'x-credential'?: string;
            'x-error-format'?: 'openai' | 'anthropic';
          }
        | undefined;
      if (!op) continue;
      const parameters = [...shared, ...(op.parameters ?? [])].map((p) => resolve(p));
      type RawMedia = { schema: Schema; example?: unknown; examples?: Record<string, { value: unknown }> };
      const requestBody = resolve(op.requestBody) as { required?: boolean; content?: Record<string, RawMedia> } | undefined;
      const content = Object.fromEntries(
        Object.entries(requestBody?.content ?? {}).map(([type, media]) => [
          type,
          {
            schema: media.schema,
            examples: [...('example' in media ? [media.example] : []), ...Object.values(media.examples ?? {}).map((e) => resolve(e).value)],
          },
        ]),
      );
      const responses = Object.fromEntries(Object.entries(op.responses).map(([status, r]) => [status, resolve(r) as { content?: Record<string, unknown> }]));
      const ok = Object.entries(responses).find(([status]) => status.startsWith('2'));
      out.push({
        operationId: op.operationId,
        method: method.toUpperCase(),
        path,
        parameters,
        body: { required: requestBody?.required ?? false, content },
        statuses: new Set(Object.keys(op.responses).map(Number)),
        credential: credentialOf(op.security, op['x-credential']),
        streams: Object.keys(ok?.[1].content ?? {}).includes('text/event-stream'),
        errorFormat: op['x-error-format'] ?? 'problem',
      });
    }
  }
  return out;
}
