import type { Context } from 'koa';
import type { operations, webhooks } from '../generated/openapi.js';
import type { Db, Executor } from '../db/database.js';
import type { AuthContext, UserContext } from '../auth/identity.js';
import type { RunnerIdentity } from '../auth/runner-auth.js';
import type { RunTokenIdentity } from '../auth/run-token.js';
import type { AuditTrail } from './audit/trail.js';

/** The requests Switchboard sends (the spec's `webhooks`) are operations too, but no route serves them. */
type WebhookOperation = webhooks[keyof webhooks]['post'];
export type OperationId = { [K in keyof operations]: operations[K] extends WebhookOperation ? never : K }[keyof operations];
type Op<K extends OperationId> = operations[K];

type Part<K extends OperationId, L extends 'path' | 'query' | 'header'> = Op<K>['parameters'] extends { [P in L]?: infer X }
  ? NonNullable<X>
  : Record<string, never>;

/** The body's type; `undefined` too when the spec does not require the body. */
type RequestBodyOf<K extends OperationId> =
  Op<K> extends { requestBody: { content: infer C } }
    ? C[keyof C]
    : NonNullable<Op<K>['requestBody']> extends { content: infer C }
      ? C[keyof C] | undefined
      : undefined;

type ResponseBody<R> = R extends { content: infer C }
  ? 'application/json' extends keyof C
    ? C['application/json']
    : 'application/problem+json' extends keyof C
      ? C['application/problem+json']
      : string | Uint8Array
  : undefined;

type Responses<K extends OperationId> = Op<K>['responses'];

/** What a handler may return: exactly one of the statuses its operation declares, with that body. */
export type HandlerResult<K extends OperationId> = {
  [S in keyof Responses<K>]: {
    status: S;
    body: ResponseBody<Responses<K>[S]>;
    /** A list sends the header once per value (Set-Cookie). */
    headers?: Record<string, string | string[]>;
    /** For non-JSON responses (HTML, YAML, assets, event streams). */
    contentType?: string;
    /** A streamed body (Server-Sent Events); `body` is then empty. */
    stream?: NodeJS.ReadableStream;
  };
}[keyof Responses<K>];

export type HandlerInput<K extends OperationId> = {
  path: Part<K, 'path'>;
  query: Part<K, 'query'>;
  headers: Part<K, 'header'>;
  body: RequestBodyOf<K>;
  /**
   * Present on every operation secured by an application key or a person's credential (acting in
   * an organization); on the AI gateway's operations (`x-credential: gateway`) also for a run
   * token, acting in its run's application.
   */
  auth: AuthContext;
  /** Present on the operations about a person's own account (`x-credential: user` or `session`), instead of `auth`. */
  user?: UserContext;
  /** Present on the operations a runner calls with its token (`x-credential: runner`). */
  runner?: RunnerIdentity;
  /** Present when a gateway operation was called with a run token: the run its calls are attributed to. */
  run?: RunTokenIdentity;
  /** The body exactly as received (signatures are computed over these bytes). */
  rawBody: Buffer | undefined;
  /**
   * The transaction of this request for writes (shared with its idempotency record); the pool for
   * reads and for the handlers marked `ownTransaction`, which open their own transactions on it.
   */
  db: Executor;
  requestId: string;
  /** The API version the request speaks (see http/pipeline/version.ts); the handler answers in the newest, which the pipeline lowers to it. */
  apiVersion: string;
  ctx: Context;
  /** Throws 412 when If-Match was sent and does not match the current representation (which the audit log takes as the change's `before`). */
  checkIfMatch: (current: object) => void;
  /**
   * The request's audit event: recorded by the pipeline in the request's transaction when the
   * handler succeeds; a handler marked `ownTransaction` records it itself, in the transaction
   * that makes its change.
   */
  audit: AuditTrail;
  /** Runs after the request's transaction commits (never if it rolls back): live fan-out goes here. */
  afterCommit: (task: () => Promise<void>) => void;
};

export type Handler<K extends OperationId> = (input: HandlerInput<K>) => Promise<HandlerResult<K>>;
export type Handlers = { [K in OperationId]: Handler<K> };

const OWN_TRANSACTION = Symbol('ownTransaction');

/**
 * Marks a write handler that opens its own short transactions instead of running in one for the
 * whole request (a long-poll must not hold a transaction, or SQLite's only connection, while it
 * waits). Such a handler is given the pool as `db`, and typed so.
 */
export const ownTransaction = <K extends OperationId>(handler: (input: Omit<HandlerInput<K>, 'db'> & { db: Db }) => Promise<HandlerResult<K>>) =>
  Object.assign(handler, { [OWN_TRANSACTION]: true }) as unknown as Handler<K>;
export const managesOwnTransaction = (handler: unknown) => Boolean((handler as Record<symbol, unknown>)[OWN_TRANSACTION]);

/** Types a resource's handlers by the operationIds they implement. */
export const defineHandlers = <K extends OperationId>(handlers: { [P in K]: Handler<P> }): { [P in K]: Handler<P> } => handlers;
