import { ProblemError, type ProblemCode } from './problems.js';

/**
 * The error envelopes of the gateway's routes: OpenAI's `{error: {message, type, code, param}}` and
 * Anthropic's `{type: 'error', error: {type, message}}`, which the official SDKs parse (by status)
 * into their error classes. The gateway's own refusals are ProblemErrors like everywhere else and
 * are written here in the route's envelope; a provider's refusal keeps its own fields.
 */
export type EnvelopeFormat = 'openai' | 'anthropic';

/** What an error says, in the fields both envelopes can carry (Anthropic's has no code or param). */
export type ErrorFields = { message: string; type: string; code: string | null; param: string | null };

export type OpenAIErrorBody = { error: ErrorFields };
export type AnthropicErrorBody = { type: 'error'; error: { type: string; message: string } };

const MAX_MESSAGE = 4000;

/** Control characters (but tab, line feed and carriage return) cannot be in a message, as the schemas say. */
// eslint-disable-next-line no-control-regex -- the class names the control characters to drop
const printable = (text: string, max: number) => text.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '').slice(0, max);
/** A type or code as the schemas allow them: a short token, or nothing. */
const token = (value: unknown): string | null => {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : '';
  return /^[A-Za-z0-9_.-]{1,100}$/.test(text) ? text : null;
};

export function envelope(format: EnvelopeFormat, fields: ErrorFields): OpenAIErrorBody | AnthropicErrorBody {
  const message = printable(fields.message, MAX_MESSAGE);
  if (format === 'anthropic') return { type: 'error', error: { type: fields.type, message } };
  // eslint-disable-next-line no-control-regex -- a param is one line
  const param = fields.param === null ? null : fields.param.replace(/[\x00-\x1f\x7f]/g, '').slice(0, 200);
  return { error: { message, type: fields.type, code: fields.code, param } };
}

/**
 * A provider's error body, read leniently (OpenAI-compatible servers vary: a numeric `code`, a
 * missing `param`, no envelope at all); `fallbackType` when it names no type of its own.
 */
export function providerErrorFields(body: unknown, status: number, fallbackType: string): ErrorFields {
  const outer = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const inner = (typeof outer.error === 'object' && outer.error !== null ? outer.error : outer) as Record<string, unknown>;
  const message = typeof inner.message === 'string' && inner.message ? inner.message : `The provider answered ${status}.`;
  return {
    message,
    type: token(inner.type) ?? fallbackType,
    code: token(inner.code),
    param: typeof inner.param === 'string' ? printable(inner.param, 200) : null,
  };
}

type Mapping = { openai: { type: string; code: string | null }; anthropic: string };

const invalid: Mapping = { openai: { type: 'invalid_request_error', code: null }, anthropic: 'invalid_request_error' };

/** Each problem a gateway route can answer, as the providers name it. */
const MAPPINGS: Partial<Record<ProblemCode, Mapping>> = {
  'bad-request': invalid,
  'invalid-json': invalid,
  'app-id-required': invalid,
  'validation-error': invalid,
  unauthorized: { openai: { type: 'invalid_request_error', code: 'invalid_api_key' }, anthropic: 'authentication_error' },
  forbidden: { openai: { type: 'invalid_request_error', code: 'permission_denied' }, anthropic: 'permission_error' },
  'not-found': { openai: { type: 'invalid_request_error', code: 'not_found' }, anthropic: 'not_found_error' },
  'model-not-found': { openai: { type: 'invalid_request_error', code: 'model_not_found' }, anthropic: 'not_found_error' },
  'payload-too-large': { openai: { type: 'invalid_request_error', code: 'request_too_large' }, anthropic: 'request_too_large' },
  'unsupported-media-type': { openai: { type: 'invalid_request_error', code: 'unsupported_media_type' }, anthropic: 'invalid_request_error' },
  // OpenAI answers a spent quota with 429 insufficient_quota; a 402 keeps SDKs from retrying it.
  'budget-exceeded': { openai: { type: 'insufficient_quota', code: 'budget_exceeded' }, anthropic: 'billing_error' },
  'rate-limited': { openai: { type: 'requests', code: 'rate_limit_exceeded' }, anthropic: 'rate_limit_error' },
  'upstream-error': { openai: { type: 'server_error', code: 'upstream_error' }, anthropic: 'api_error' },
  'upstream-timeout': { openai: { type: 'server_error', code: 'upstream_timeout' }, anthropic: 'timeout_error' },
};
const INTERNAL: Mapping = { openai: { type: 'server_error', code: 'internal_error' }, anthropic: 'api_error' };

/** Validation is 400 in both envelopes, as the providers answer it; every other problem keeps its status. */
const statusIn = (problem: ProblemError) => (problem.status === 422 ? 400 : problem.status);

/** The first field a validation problem names, as OpenAI's `param` (`messages`, `model`). */
function paramOf(problem: ProblemError): string | null {
  const first = problem.extra.errors?.[0];
  if (!first) return problem.code === 'model-not-found' ? 'model' : null;
  return first.parameter ?? (first.pointer?.replace(/^\//, '').replace(/\//g, '.') || null);
}

/** A problem as a gateway route answers it: its status (422 becomes 400) and its body in the route's envelope. */
export function problemEnvelope(format: EnvelopeFormat, problem: ProblemError): { status: number; body: OpenAIErrorBody | AnthropicErrorBody } {
  const mapping = MAPPINGS[problem.code] ?? INTERNAL;
  const issues = (problem.extra.errors ?? []).map((issue) => `${issue.pointer ?? issue.parameter ?? ''}: ${issue.detail}`);
  const message = issues.length ? `${problem.detail} ${issues.join(' ')}` : problem.detail;
  const type = format === 'openai' ? mapping.openai.type : mapping.anthropic;
  return { status: statusIn(problem), body: envelope(format, { message, type, code: mapping.openai.code, param: paramOf(problem) }) };
}
