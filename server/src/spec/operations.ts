import { escapeToken, unescapeToken } from '../util/json-pointer.js';
import type { OpenApiDocument } from './load-spec.js';

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

export type RateCategory = 'read' | 'write' | 'run' | 'costly' | 'llm';
/** How an operation's errors are written: RFC 9457 problems, or (the gateway's routes) a provider's own envelope. */
export type ErrorFormat = 'problem' | 'openai' | 'anthropic';
export type Scope = 'read' | 'write' | 'admin';
export type Credential = 'key' | 'key-or-run' | 'runner' | 'trigger' | 'gateway' | 'run' | 'user' | 'session' | 'link';
const CREDENTIALS: readonly Credential[] = ['key', 'key-or-run', 'runner', 'trigger', 'gateway', 'run', 'user', 'session', 'link'];

export type ParameterSpec = {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required: boolean;
  /** JSON pointer (in the spec document) of the parameter's schema, for Ajv. */
  schemaPointer: string;
};

export type ResponseSpec = {
  contentTypes: string[];
  /** Pointer of the JSON schema for each JSON-like content type. */
  schemaPointers: Record<string, string>;
  headers: string[];
};

/**
 * What a `multipart/form-data` body holds besides its text fields: the parts that are files (a
 * property of `format: binary`), each with the media types its `encoding` accepts, and the parts
 * whose `encoding` is JSON (an object sent as the part's text).
 */
export type MultipartSpec = { files: Map<string, string[]>; jsonFields: Set<string> };

export type OperationSpec = {
  operationId: string;
  /** For an operation a version removed (versions/retired.ts): that version; it is served to older ones only. */
  retiredIn?: string;
  method: (typeof HTTP_METHODS)[number];
  path: string;
  /** The path in @koa/router's syntax: `/api/v1/agents/:agentId`. */
  routerPath: string;
  pointer: string;
  parameters: ParameterSpec[];
  requestBody: { required: boolean; contentTypes: string[]; schemaPointers: Record<string, string>; multipart: MultipartSpec | undefined } | undefined;
  responses: Record<string, ResponseSpec>;
  secured: boolean;
  rateCategory: RateCategory | undefined;
  requiredScope: Scope | undefined;
  idempotent: boolean;
  /** Declares X-App-Id: it acts in one application (organization-level operations do not). */
  appScoped: boolean;
  /** Declares 422 (400 in a provider's envelope, see errorFormat), so invalid input is reported as validation-error. */
  declaresValidation: boolean;
  /**
   * `x-unknown-query-parameters: ignore`: query parameters the operation does not declare are
   * ignored (public read-only routes, which load balancers call with cache busters) instead of
   * refused with 422.
   */
  ignoresUnknownQuery: boolean;
  /**
   * Who calls it: an application key or a person (`key`), also a run token (`key-or-run`: the
   * tasks' routes, which agents work on), a runner with its token, an external
   * system with a trigger's own credential, (the AI gateway) an application key, a personal token
   * or a run token, also as `x-api-key`; or, on a person's own account, a person (`user`: session
   * cookie or personal token) or only a session (`session`); or, on a public route, the link in
   * its path (`link`: a connect link's form, which a person's browser posts).
   */
  credential: Credential;
  /** `x-refuses-runs`: a genuine run token is refused with this reason (403), not as an unknown credential (401). */
  refusesRuns?: string;
  /** Accepts an end-user token (`sbe_...`): the run operations an application's own front end calls. */
  takesEndUserToken: boolean;
  /** Accepts the credential as `?token=` (realtime routes, for EventSource). */
  tokenInQuery: boolean;
  /** Accepts the credential as `x-api-key` (the gateway's routes, for Anthropic's SDKs and tools). */
  tokenInXApiKey: boolean;
  /** `x-error-format`: the envelope its errors are written in. */
  errorFormat: ErrorFormat;
  /** `x-audit-action`: what its success (or refusal) records in the audit log; every operation that changes anything has one. */
  auditAction: string | undefined;
  /** `x-body-limit: gateway`: its bodies may be as large as the gateway's limit, not the API's. */
  bodyLimit: 'api' | 'gateway';
  /**
   * Speaks a dated version of the API (Switchboard-Version): every operation under /api/v1 but the
   * AI gateway's, which speak their providers' formats. The OpenAPI bundle declares the version
   * headers on the same ones (openapi/plugins/standard-headers.js).
   */
  versioned: boolean;
};

/** Follows a `#/...` reference inside the document; returns the target and its pointer. */
export function resolveRef(doc: OpenApiDocument, value: unknown, pointer: string): { value: Record<string, unknown>; pointer: string } {
  let current = value as Record<string, unknown> | undefined;
  let at = pointer;
  for (let hops = 0; typeof current?.$ref === 'string'; hops++) {
    if (hops > 20) throw new Error(`Reference cycle at ${pointer}`);
    const ref = current.$ref;
    if (!ref.startsWith('#/')) throw new Error(`Only local references are supported, found ${ref} at ${at}`);
    at = ref.slice(1);
    current = ref
      .slice(2)
      .split('/')
      .map((p) => unescapeToken(decodeURIComponent(p)))
      .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc) as Record<string, unknown> | undefined;
    if (current === undefined) throw new Error(`Unresolvable reference ${ref}`);
  }
  return { value: current as Record<string, unknown>, pointer: at };
}

export const MULTIPART = 'multipart/form-data';
/** A browser form's encoding (the hosted connect page's), read into an object of strings. */
export const FORM = 'application/x-www-form-urlencoded';

function contentSchemas(content: Record<string, unknown> | undefined, pointer: string) {
  const schemaPointers: Record<string, string> = {};
  for (const [type, media] of Object.entries(content ?? {})) {
    const m = media as { schema?: unknown };
    if (m.schema && (/json/.test(type) || type === MULTIPART || type === FORM)) schemaPointers[type] = `${pointer}/content/${escapeToken(type)}/schema`;
  }
  return { contentTypes: Object.keys(content ?? {}), schemaPointers };
}

/** The file and JSON parts of a multipart body, from its schema's properties and its `encoding`. */
function multipartSpec(doc: OpenApiDocument, media: Record<string, unknown>, pointer: string): MultipartSpec {
  const schema = resolveRef(doc, media.schema, `${pointer}/schema`).value;
  const encoding = (media.encoding ?? {}) as Record<string, { contentType?: string } | undefined>;
  const typesOf = (name: string) =>
    (encoding[name]?.contentType ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean);
  const files = new Map<string, string[]>();
  const jsonFields = new Set<string>();
  for (const [name, raw] of Object.entries((schema.properties ?? {}) as Record<string, unknown>)) {
    const property = resolveRef(doc, raw, `${pointer}/schema/properties/${escapeToken(name)}`).value;
    // Without an encoding, a file may be of any type (OpenAPI's default for binary parts is application/octet-stream, which says nothing of the file).
    if (property.format === 'binary') files.set(name, typesOf(name).length ? typesOf(name) : ['*/*']);
    else if (typesOf(name).includes('application/json')) jsonFields.add(name);
  }
  return { files, jsonFields };
}

/** Flattens the spec's paths into one record per operation, with every reference resolved. */
export function extractOperations(doc: OpenApiDocument): OperationSpec[] {
  const operations: OperationSpec[] = [];
  for (const [path, rawItem] of Object.entries(doc.paths)) {
    const itemPointer = `/paths/${escapeToken(path)}`;
    const item = resolveRef(doc, rawItem, itemPointer);
    const shared = (item.value.parameters as unknown[] | undefined) ?? [];
    for (const method of HTTP_METHODS) {
      const op = item.value[method] as Record<string, unknown> | undefined;
      if (!op) continue;
      const opPointer = `${item.pointer}/${method}`;
      const params = new Map<string, ParameterSpec>();
      const collect = (list: unknown[], base: string) =>
        list.forEach((raw, i) => {
          const p = resolveRef(doc, raw, `${base}/${i}`);
          const v = p.value as { name: string; in: ParameterSpec['in']; required?: boolean };
          params.set(`${v.in}:${v.name}`, { name: v.name, in: v.in, required: Boolean(v.required), schemaPointer: `${p.pointer}/schema` });
        });
      collect(shared, `${item.pointer}/parameters`);
      collect((op.parameters as unknown[] | undefined) ?? [], `${opPointer}/parameters`);

      let requestBody: OperationSpec['requestBody'];
      if (op.requestBody) {
        const rb = resolveRef(doc, op.requestBody, `${opPointer}/requestBody`);
        const content = rb.value.content as Record<string, Record<string, unknown>>;
        const c = contentSchemas(content, rb.pointer);
        const multipart = content[MULTIPART] && multipartSpec(doc, content[MULTIPART], `${rb.pointer}/content/${escapeToken(MULTIPART)}`);
        requestBody = { required: Boolean(rb.value.required), ...c, multipart };
      }

      const responses: Record<string, ResponseSpec> = {};
      for (const [status, raw] of Object.entries((op.responses as Record<string, unknown> | undefined) ?? {})) {
        const r = resolveRef(doc, raw, `${opPointer}/responses/${status}`);
        const c = contentSchemas(r.value.content as Record<string, unknown>, r.pointer);
        responses[status] = { ...c, headers: Object.keys((r.value.headers as object | undefined) ?? {}).map((h) => h.toLowerCase()) };
      }

      const security = (op.security as unknown[] | undefined) ?? doc.security ?? [];
      const errorFormat: ErrorFormat = op['x-error-format'] === 'openai' || op['x-error-format'] === 'anthropic' ? op['x-error-format'] : 'problem';
      const parameters = [...params.values()];
      operations.push({
        operationId: String(op.operationId),
        method,
        path,
        routerPath: path.replace(/\{([^}]+)\}/g, ':$1'),
        pointer: opPointer,
        parameters,
        requestBody,
        responses,
        secured: security.length > 0,
        rateCategory: op['x-rate-limit-category'] as RateCategory | undefined,
        requiredScope: op['x-required-scope'] as Scope | undefined,
        idempotent: parameters.some((p) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key'),
        appScoped: parameters.some((p) => p.in === 'header' && p.name.toLowerCase() === 'x-app-id'),
        versioned: path.startsWith('/api/v1/') && !path.startsWith('/api/v1/llm/'),
        declaresValidation: Object.hasOwn(responses, errorFormat === 'problem' ? '422' : '400'),
        ignoresUnknownQuery: op['x-unknown-query-parameters'] === 'ignore',
        credential: CREDENTIALS.includes(op['x-credential'] as Credential) ? (op['x-credential'] as Credential) : 'key',
        ...(typeof op['x-refuses-runs'] === 'string' ? { refusesRuns: op['x-refuses-runs'] } : {}),
        takesEndUserToken: security.some((s) => 'endUserToken' in (s as object)),
        tokenInQuery: security.some((s) => 'tokenQuery' in (s as object)),
        tokenInXApiKey: security.some((s) => 'xApiKey' in (s as object)),
        errorFormat,
        auditAction: typeof op['x-audit-action'] === 'string' ? op['x-audit-action'] : undefined,
        bodyLimit: op['x-body-limit'] === 'gateway' ? 'gateway' : 'api',
      });
    }
  }
  return operations;
}
