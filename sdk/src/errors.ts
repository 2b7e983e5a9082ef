import type { Problem } from './generated/types.gen.js';

/** Any failure of an API call: an error response (with its RFC 9457 problem), a timeout, or a network error. */
export class SwitchboardError extends Error {
  /** HTTP status; 0 when no response arrived. */
  readonly status: number;
  /** The problem's code (`not-found`, `validation-error`, ...), or `timeout` / `connection-error`. */
  readonly code: string;
  readonly problem: Problem | undefined;
  /** Quote it when reporting a problem: the server logs every request under it. */
  readonly requestId: string | undefined;
  readonly headers: Headers;

  constructor(status: number, problem: Problem | undefined, headers: Headers, message?: string, options?: { cause?: unknown }) {
    super(message ?? (problem ? (problem.detail ? `${problem.title}: ${problem.detail}` : problem.title) : `HTTP ${status}`), options);
    this.name = new.target.name;
    this.status = status;
    this.code = problem?.code ?? (status ? `http-${status}` : 'connection-error');
    this.problem = problem;
    this.requestId = problem?.requestId ?? headers.get('request-id') ?? undefined;
    this.headers = headers;
  }

  /** Field-level reasons of a validation error: JSON pointers into the request, or parameter names. */
  get errors() {
    return this.problem?.errors ?? [];
  }
}

export class BadRequestError extends SwitchboardError {}
export class AuthenticationError extends SwitchboardError {}
export class PermissionDeniedError extends SwitchboardError {}
export class NotFoundError extends SwitchboardError {}
export class ConflictError extends SwitchboardError {}
export class PreconditionFailedError extends SwitchboardError {}
export class PayloadTooLargeError extends SwitchboardError {}
export class UnsupportedMediaTypeError extends SwitchboardError {}
export class ValidationError extends SwitchboardError {}
export class RateLimitError extends SwitchboardError {
  /** Seconds to wait before the budget refills, from Retry-After. */
  get retryAfter(): number | undefined {
    const value = Number(this.headers.get('retry-after'));
    return Number.isFinite(value) && value >= 0 ? value : undefined;
  }
}
export class InternalServerError extends SwitchboardError {}
/** No response: the connection failed or was reset. */
export class ConnectionError extends SwitchboardError {}
/** No response within the call's timeout. */
export class TimeoutError extends SwitchboardError {
  override readonly code: string = 'timeout';
}
/** The caller aborted the call with its signal; `cause` is the signal's reason. */
export class AbortError extends SwitchboardError {
  override readonly code: string = 'aborted';

  constructor(reason: unknown) {
    super(0, undefined, new Headers(), 'The call was aborted.', { cause: reason });
  }
}

const BY_STATUS: Record<number, typeof SwitchboardError> = {
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  412: PreconditionFailedError,
  413: PayloadTooLargeError,
  415: UnsupportedMediaTypeError,
  422: ValidationError,
  429: RateLimitError,
};

/** The error class for a response status. */
export function errorFor(status: number, problem: Problem | undefined, headers: Headers): SwitchboardError {
  const Kind = BY_STATUS[status] ?? (status >= 500 ? InternalServerError : SwitchboardError);
  return new Kind(status, problem, headers);
}

const BODY_EXCERPT = 200;

const isProblem = (body: unknown): body is Problem =>
  typeof body === 'object' && body !== null && typeof (body as Problem).title === 'string' && typeof (body as Problem).status === 'number';

/**
 * The error for an error response. Its body is a problem when the API answered; anything else
 * (a proxy's HTML page, plain text) is quoted, shortened, after the status line.
 */
export function responseError(response: Pick<Response, 'status' | 'statusText' | 'headers'>, body: unknown): SwitchboardError {
  const { status, headers } = response;
  if (isProblem(body)) return errorFor(status, body, headers);
  const Kind = BY_STATUS[status] ?? (status >= 500 ? InternalServerError : SwitchboardError);
  // The generated client hands over `{}` for an empty body.
  const raw = typeof body === 'string' ? body : typeof body === 'object' && body !== null && Object.keys(body).length === 0 ? '' : JSON.stringify(body ?? '');
  const text = raw.replace(/\s+/g, ' ').trim();
  const excerpt = text.length > BODY_EXCERPT ? `${text.slice(0, BODY_EXCERPT)}...` : text;
  const statusLine = `${status}${response.statusText ? ` ${response.statusText}` : ''}`;
  return new Kind(status, undefined, headers, excerpt ? `${statusLine}: ${excerpt}` : statusLine);
}
