/** Every problem type the API can answer with; `/api/problems/{code}` serves these descriptions. */
export const problemTypes = {
  'bad-request': { status: 400, title: 'Bad request', description: 'The request could not be understood as sent.' },
  'invalid-api-version': {
    status: 400,
    title: 'Invalid API version',
    description: 'Switchboard-Version (or `version`) is not a date in the form YYYY-MM-DD. Nothing was changed.',
  },
  'unsupported-api-version': {
    status: 400,
    title: 'Unsupported API version',
    description: 'No version of the API has that date, or it is sunset: GET /api/v1/versions lists the ones served. Nothing was changed.',
  },
  'invalid-json': { status: 400, title: 'Malformed JSON', description: 'The request body is not valid JSON. Nothing was changed.' },
  'locked-input-field': {
    status: 400,
    title: 'Locked input field',
    description:
      "The run's input (or a schedule's, or a trigger's payload) sets a field the agent's installation locks (named in `errors`): locked fields always take the installation's value. Leave them out. Nothing was started.",
  },
  'app-id-required': {
    status: 400,
    title: 'Application id required',
    description:
      'A person (personal token or session cookie) acts in no application of their own: name the application with the X-App-Id header on application-scoped operations.',
  },
  'org-id-required': {
    status: 400,
    title: 'Organization id required',
    description: 'The signed-in user belongs to several organizations: name the one the request acts in with the X-Org-Id header.',
  },
  unauthorized: {
    status: 401,
    title: 'Unauthorized',
    description:
      "No valid credential was sent. Send an application key as `Authorization: Bearer sbk_...` or `X-API-Token: sbk_...`, a personal token (`sbp_...`) the same way, or the session cookie of a signed-in user. Unknown, revoked and expired credentials all get this answer, and so does a personal token whose user has left its organization. The AI gateway's routes also take a run token (`sbrt_...`); one whose lease has ended gets this answer too, saying so.",
  },
  'invalid-credentials': {
    status: 401,
    title: 'Invalid email or password',
    description: 'No account has this email and password. An unknown email and a wrong password get the same answer, in the same time.',
  },
  forbidden: {
    status: 403,
    title: 'Forbidden',
    description: 'The credential is valid but its scopes, its role in the organization or its application do not allow this operation.',
  },
  'csrf-failed': {
    status: 403,
    title: 'Cross-site request refused',
    description:
      'A write made with the session cookie must come from this server (Origin) and send X-CSRF-Token equal to the sb_csrf cookie (the csrfToken returned at login). Calls with a bearer credential are exempt.',
  },
  'signup-closed': {
    status: 403,
    title: 'Sign-up closed',
    description:
      'This server accepts new users only through an invitation: sign up with the invitation token an administrator of the organization created for your email.',
  },
  'email-taken': { status: 409, title: 'Email taken', description: 'An account with this email exists already: log in instead.' },
  'not-found': { status: 404, title: 'Not found', description: 'No such resource exists, or it belongs to another tenant.' },
  'model-not-found': {
    status: 404,
    title: 'Model not found',
    description: "The application has no model alias of this name. The gateway answers it in the provider's envelope (OpenAI code `model_not_found`).",
  },
  'method-not-allowed': {
    status: 405,
    title: 'Method not allowed',
    description: 'The resource exists but does not support this method; see the Allow header.',
  },
  'request-timeout': {
    status: 408,
    title: 'Request timeout',
    description:
      'The request line and headers (or the whole request) did not arrive within the time the server allows (HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS); the connection was closed.',
  },
  conflict: { status: 409, title: 'Conflict', description: 'The request conflicts with the current state of the resource.' },
  'invalid-transition': {
    status: 409,
    title: 'Invalid state transition',
    description: 'The resource is in a state from which this change is not allowed. The detail names the current state.',
  },
  'idempotency-in-flight': {
    status: 409,
    title: 'Idempotent request in flight',
    description: 'A request with the same Idempotency-Key is still being processed. Retry after it completes.',
  },
  'lease-lost': {
    status: 409,
    title: 'Lease lost',
    description:
      'The runner no longer holds this run: its lease expired and the run was re-queued, or the run was cancelled or finished, or the fencing token is older than the current one. Stop working on the run.',
  },
  'approval-resolved': {
    status: 409,
    title: 'Approval resolved',
    description:
      'The approval is no longer pending: someone decided it first, it expired, or its run ended. The first decision wins; read the approval to see how it ended.',
  },
  'thread-busy': {
    status: 409,
    title: 'Thread busy',
    description:
      'The thread has a run that is queued, running or waiting (named in activeRunId). A run started with multitaskStrategy reject is not started, and the thread is not deleted: wait for that run to end (or cancel it), or start the run with enqueue or interrupt.',
  },
  'budget-exceeded': {
    status: 402,
    title: 'Budget exceeded',
    description:
      "A budget (named in budgetId) has no room for this: what it reserves for a call's estimated cost, or for a new run, would take its spending past its amount in the current window. Nothing was started. Raise the budget (updateBudget), wait for its window to reset, or make a smaller call (a lower max_tokens reserves less). Not a 429: retrying changes nothing until one of those happens.",
  },
  'embedding-not-configured': {
    status: 422,
    title: 'Embedding not configured',
    description:
      'A vector query needs embeddings, and a knowledge base queried has no embeddingModel. Set one on the base (updateKnowledgeBase; its documents are indexed again), or query it in fulltext mode.',
  },
  'task-blocked': {
    status: 409,
    title: 'Task blocked',
    description:
      'The task waits on blockers that are neither done nor cancelled (listed in blockedBy): it cannot move to in_progress until they are, or until they are taken out of its blockedBy.',
  },
  'task-checked-out': {
    status: 409,
    title: 'Task checked out',
    description:
      'Another run is working on the task (named in checkoutRunId): it checked the task out and still holds its lease. Do not retry: take another task, or wait until the task is released.',
  },
  'precondition-failed': {
    status: 412,
    title: 'Precondition failed',
    description: 'The If-Match header does not match the current ETag of the resource: it changed since you read it. Read it again and retry.',
  },
  'payload-too-large': {
    status: 413,
    title: 'Payload too large',
    description:
      "The request body is larger than the server accepts (1 MiB by default; 10 MiB by default on the gateway's routes), or an uploaded file is larger than the upload limit (25 MiB by default).",
  },
  'unsupported-media-type': {
    status: 415,
    title: 'Unsupported media type',
    description:
      'The request body has a Content-Type this operation does not accept, or an uploaded file a media type it does not take. Send application/json (or application/merge-patch+json for PATCH, multipart/form-data for uploads).',
  },
  'request-header-fields-too-large': {
    status: 431,
    title: 'Request header fields too large',
    description: 'The request line and headers are larger than the server accepts (16 KiB in all); the connection was closed.',
  },
  'validation-error': {
    status: 422,
    title: 'Validation error',
    description: 'The request is well-formed but some values are invalid. `errors` lists each with a JSON Pointer (body) or a parameter name.',
  },
  'bulk-failed': {
    status: 422,
    title: 'Bulk change failed',
    description:
      'At least one change of the batch would fail, so none was applied. errors lists each failed change (its pointer, why, and the code of the problem it alone would have got); fix or drop those and send the batch again.',
  },
  'idempotency-key-reused': {
    status: 422,
    title: 'Idempotency key reused',
    description: 'This Idempotency-Key was already used with a different method, path or body within the last 24 hours. Use a new key for a new request.',
  },
  'rate-limited': {
    status: 429,
    title: 'Too many requests',
    description: 'The credential exhausted its budget for this category of requests. Retry after the number of seconds in Retry-After.',
  },
  'internal-error': { status: 500, title: 'Internal server error', description: 'The server failed unexpectedly. The request id identifies it in the logs.' },
  'upstream-error': {
    status: 502,
    title: 'Bad gateway',
    description:
      "The provider failed. A model provider: an error status after the model alias's retries and fallbacks, a malformed or truncated answer, a connection that failed or was refused by the address policy, or a refusal of the gateway's own credential. A connection's provider: its token endpoint refused or could not be reached, or its API could not be reached (or was refused by the address policy) or answered more than the proxy takes.",
  },
  'upstream-timeout': {
    status: 504,
    title: 'Gateway timeout',
    description:
      "The provider sent nothing in time: a model provider within its timeout on every attempt the model alias's retries and fallbacks allowed, or a connection's provider within 30 seconds.",
  },
  'not-ready': { status: 503, title: 'Not ready', description: 'The server cannot reach its database.' },
} as const satisfies Record<string, { status: number; title: string; description: string }>;

export type ProblemCode = keyof typeof problemTypes;

export type ValidationIssue = { detail: string; pointer?: string; parameter?: string; in?: 'body' | 'query' | 'path' | 'header'; code?: ProblemCode };

/** A failure the client is told about as application/problem+json. Throw it from anywhere. */
export class ProblemError extends Error {
  readonly status: number;
  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly extra: {
      errors?: ValidationIssue[];
      headers?: Record<string, string>;
      activeRunId?: string;
      blockedBy?: string[];
      checkoutRunId?: string;
      budgetId?: string;
    } = {},
  ) {
    super(detail);
    this.status = problemTypes[code].status;
  }
}

export function problemBody(err: ProblemError, instance: string, requestId: string) {
  return {
    type: `/api/problems/${err.code}`,
    title: problemTypes[err.code].title,
    status: err.status,
    detail: err.detail,
    instance,
    code: err.code,
    requestId,
    ...(err.extra.errors ? { errors: err.extra.errors } : {}),
    ...(err.extra.activeRunId ? { activeRunId: err.extra.activeRunId } : {}),
    ...(err.extra.blockedBy ? { blockedBy: err.extra.blockedBy } : {}),
    ...(err.extra.checkoutRunId ? { checkoutRunId: err.extra.checkoutRunId } : {}),
    ...(err.extra.budgetId ? { budgetId: err.extra.budgetId } : {}),
  };
}

/** The client went away before it was answered: nobody waits for the answer, and nothing failed. Thrown to stop the work, never sent. */
export class ClientClosed extends Error {}

export const notFound = (what: string, id: string) => new ProblemError('not-found', `No ${what} with id ${id}.`);
