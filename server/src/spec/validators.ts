import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { createAjv } from './ajv.js';
import { escapeToken } from '../util/json-pointer.js';
import type { OpenApiDocument } from './load-spec.js';
import { MULTIPART, type OperationSpec } from './operations.js';
import { compileResponseHeaderChecks, type ResponseHeaderCheck } from './response-headers.js';
import type { ValidationIssue } from '../problems/problems.js';

const SPEC_ID = 'openapi.json';

export type ParameterValidator = (location: 'path' | 'query' | 'header', values: Record<string, unknown>) => ValidationIssue[];
export type BodyValidator = (body: unknown) => ValidationIssue[];

export type OperationValidators = {
  parameters: ParameterValidator;
  /** Keyed by request content type (a header's value: a Map, so no inherited member answers). */
  body: Map<string, BodyValidator>;
  /** By `${status}:${contentType}`; undefined when that response has no such body. */
  response: (key: string) => ValidateFunction | undefined;
  /** The problems of a response's final headers (see response-headers.ts). */
  headers: ResponseHeaderCheck;
};

/** Compiled on first use, then kept: a start compiles nothing, and no request compiles twice. */
const once = <T>(make: () => T): (() => T) => {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
};

const ref = (pointer: string) => ({ $ref: `${SPEC_ID}#${pointer.split('/').map(encodeURIComponent).join('/')}` });

const quoted = (value: unknown) => {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}...` : text);
};

/** Within an issue's 1,000 characters, an enum's values are listed up to this many, then counted. */
const ALLOWED_LIST_CHARS = 700;

/** An enum's values, comma-separated; a long enum (the webhook event types) names the first ones and how many more. */
function allowedList(values: unknown[]): string {
  const texts = values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
  let shown = 0;
  let length = 0;
  while (shown < texts.length && length + texts[shown]!.length + 2 <= ALLOWED_LIST_CHARS) length += texts[shown++]!.length + 2;
  const listed = texts.slice(0, shown).join(', ');
  return shown === texts.length ? listed : `${listed}, and ${String(texts.length - shown)} more (see the spec)`;
}

/**
 * Ajv's message, made to say what would have been accepted: the allowed values of an enum, the value
 * a pattern refused, unless that value is write-only (a credential): it is not repeated back.
 */
function messageOf(e: ErrorObject): string {
  if (e.keyword === 'enum') return `must be one of: ${allowedList((e.params as { allowedValues: unknown[] }).allowedValues)}`;
  if (e.keyword === 'const') return `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
  if (e.keyword === 'pattern' && (e.parentSchema as { writeOnly?: boolean } | undefined)?.writeOnly)
    return `must match the pattern ${(e.params as { pattern: string }).pattern} (the value is write-only and not repeated here)`;
  if (e.keyword === 'pattern' && typeof e.data === 'string')
    return `must match the pattern ${(e.params as { pattern: string }).pattern}, and ${quoted(e.data)} does not`;
  return e.message ?? 'is invalid';
}

export function bodyIssues(errors: ErrorObject[] | null | undefined): ValidationIssue[] {
  return (errors ?? []).map((e) => {
    if (e.keyword === 'additionalProperties') {
      const prop = (e.params as { additionalProperty: string }).additionalProperty;
      return { pointer: `${e.instancePath}/${escapeToken(prop)}`, detail: `Unknown field "${prop}".` };
    }
    if (e.keyword === 'required') {
      const prop = (e.params as { missingProperty: string }).missingProperty;
      return { pointer: `${e.instancePath}/${prop}`, detail: `Required field "${prop}" is missing.` };
    }
    return { pointer: e.instancePath, detail: `${e.instancePath ? `"${e.instancePath}"` : 'The body'} ${messageOf(e)}.` };
  });
}

/**
 * The validators of every operation. Each is compiled the first time it is needed and kept: the
 * server starts without compiling some hundreds of schemas it may not use for a while (a start
 * spent most of its time here), and a request never compiles what an earlier one did.
 */
export function compileValidators(doc: OpenApiDocument, operations: OperationSpec[]): Map<string, OperationValidators> {
  const strictAjv = createAjv({ forParameters: false });
  const coercingAjv = createAjv({ forParameters: true });
  // Not checked against the meta-schema here: the bundle is linted when it is built, and checking it
  // on every start cost a quarter of a second and some 30 MB of garbage that left the heap larger.
  strictAjv.addSchema(doc, SPEC_ID, undefined, false);
  coercingAjv.addSchema(doc, SPEC_ID, undefined, false);

  const headerChecks = compileResponseHeaderChecks(coercingAjv, ref, doc, operations);
  const result = new Map<string, OperationValidators>();
  for (const op of operations) {
    const byLocation = new Map<string, () => ValidateFunction>();
    const names = new Map<string, Map<string, string>>();
    for (const location of ['path', 'query', 'header'] as const) {
      const params = op.parameters.filter((p) => p.in === location);
      // Header names arrive lower-cased; the schema is keyed by the lower-case name.
      const key = (name: string) => (location === 'header' ? name.toLowerCase() : name);
      names.set(location, new Map(params.map((p) => [key(p.name), p.name])));
      const schema = {
        type: 'object',
        properties: Object.fromEntries(params.map((p) => [key(p.name), ref(p.schemaPointer)])),
        required: params.filter((p) => p.required).map((p) => key(p.name)),
        // Headers always carry more than an operation reads; unknown query parameters are refused unless the operation ignores them.
        additionalProperties: location !== 'query' || op.ignoresUnknownQuery,
      };
      byLocation.set(
        location,
        once(() => coercingAjv.compile(schema)),
      );
    }
    const parameters: ParameterValidator = (location, values) => {
      const validate = byLocation.get(location)!();
      if (validate(values)) return [];
      return (validate.errors ?? []).map((e) => {
        const original = names.get(location)!;
        if (e.keyword === 'additionalProperties') {
          const name = (e.params as { additionalProperty: string }).additionalProperty;
          return { parameter: name, in: location, detail: `Unknown ${location} parameter "${name}".` };
        }
        if (e.keyword === 'required') {
          const name = (e.params as { missingProperty: string }).missingProperty;
          return { parameter: original.get(name) ?? name, in: location, detail: `Required ${location} parameter "${original.get(name) ?? name}" is missing.` };
        }
        const name = e.instancePath.split('/')[1] ?? '';
        const shown = original.get(name) ?? name;
        return { parameter: shown, in: location, detail: `The ${location} parameter "${shown}" ${messageOf(e)}.` };
      });
    };

    const body = new Map<string, BodyValidator>();
    for (const [type, pointer] of Object.entries(op.requestBody?.schemaPointers ?? {})) {
      // A form's fields arrive as text, like parameters: coerced to their types, defaults filled in.
      const ajv = type === MULTIPART ? coercingAjv : strictAjv;
      const validator = once(() => ajv.compile(ref(pointer)));
      body.set(type, (value) => {
        const validate = validator();
        return validate(value) ? [] : bodyIssues(validate.errors);
      });
    }

    const responses = new Map<string, () => ValidateFunction>();
    for (const [status, r] of Object.entries(op.responses)) {
      for (const [type, pointer] of Object.entries(r.schemaPointers)) {
        responses.set(
          `${status}:${type}`,
          once(() => strictAjv.compile(ref(pointer))),
        );
      }
    }
    result.set(op.operationId, { parameters, body, response: (key) => responses.get(key)?.(), headers: headerChecks.get(op.operationId)! });
  }
  return result;
}
