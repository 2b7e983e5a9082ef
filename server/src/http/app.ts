import cors from '@koa/cors';
import compress from 'koa-compress';
import Router from '@koa/router';
import Koa, { type Context, type Next } from 'koa';
import type { OperationSpec } from '../spec/operations.js';
import type { OperationValidators } from '../spec/validators.js';
import { newId } from '../util/ids.js';
import type { Handler, Handlers, OperationId } from '../resources/handler-types.js';
import { operationMiddleware, type OperationDeps } from './operation.js';
import { checkProblemStatus, ContractViolation, reportBreach } from './pipeline/respond.js';
import { ClientClosed, ProblemError, problemBody } from '../problems/problems.js';
import { problemEnvelope } from '../problems/provider-envelopes.js';
import { tracer } from '../observability/tracing.js';
import type { Drain } from '../util/drain.js';
import { closeConnectionsWhileDraining } from './drain.js';
import type { HttpMetrics } from '../observability/metrics.js';

const SANE_CORRELATION_ID = /^[A-Za-z0-9._:@/-]{1,128}$/;

const EXPOSED_HEADERS = [
  'Request-Id',
  'RateLimit',
  'RateLimit-Policy',
  'Retry-After',
  'ETag',
  'Idempotent-Replayed',
  'Location',
  'Allow',
  'Switchboard-Model',
  'Switchboard-Fallbacks',
  'Switchboard-Cost-Micros',
  'Switchboard-Version',
  'Deprecation',
  'Sunset',
  'Link',
];

export type AppDeps = OperationDeps & {
  operations: OperationSpec[];
  validators: Map<string, OperationValidators>;
  handlers: Handlers;
  /** A replica's stop (server.ts); without it the app never drains. */
  drain?: Drain;
  /** Counts and times every request, when metrics are on. */
  metrics?: HttpMetrics;
};

export type RouteEntry = { operationId: string; method: string; path: string };

/** The Koa app, and the routes it registered (one per operation of the spec, nothing else). */
export function createApp(deps: AppDeps): { app: Koa; routes: RouteEntry[] } {
  const app = new Koa();
  app.silent = true;
  // Behind a balancer the client's address, scheme and host are the ones it forwards; only the
  // entries its trusted hops appended count (a client can send any X-Forwarded-For of its own).
  if (deps.config.trustProxyHops) {
    app.proxy = true;
    app.maxIpsCount = deps.config.trustProxyHops;
  }
  const router = new Router();
  const operationOf = new WeakMap<Context, OperationSpec>();

  const tracing = tracer();
  if (tracing) app.use(tracing.requests((ctx) => routeOf(operationOf.get(ctx))));
  if (deps.drain) app.use(closeConnectionsWhileDraining(deps.drain));
  app.use(requestContext(deps, operationOf));
  const corsHeaders: (ctx: Context, next: Next) => Promise<void> = cors({
    origin: '*',
    allowMethods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    allowHeaders: [
      'Authorization',
      'X-API-Token',
      'X-App-Id',
      'Content-Type',
      'Idempotency-Key',
      'If-Match',
      'Last-Event-ID',
      'X-Request-Id',
      'Switchboard-User',
      'Switchboard-Version',
      'traceparent',
      'tracestate',
      'x-api-key',
      'anthropic-version',
      'anthropic-beta',
      'webhook-id',
      'webhook-timestamp',
      'webhook-signature',
    ],
    exposeHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  });
  // Only a browser's request carries an Origin, and only it reads the CORS headers: the others skip
  // their work and bytes. Every answer says it varies by Origin, so no cache serves a copy without
  // them to a browser.
  app.use((ctx, next) => {
    if (ctx.headers.origin !== undefined) return corsHeaders(ctx, next);
    ctx.set('Vary', 'Origin');
    return next();
  });

  // The operations whose success declares `Vary` (the OpenAPI document, Swagger UI) are sent
  // compressed from 1 KiB, except images (already compressed); never the event streams, which
  // must not be buffered.
  const compressDocuments = compress({ threshold: 1024, filter: (type) => !type.startsWith('image/') });
  for (const op of deps.operations) {
    const compressed = op.responses['200']?.headers.includes('vary') ?? false;
    const handler = deps.handlers[op.operationId as OperationId] as Handler<OperationId> | undefined;
    const validators = deps.validators.get(op.operationId);
    if (!handler || !validators) throw new Error(`No handler for operation ${op.operationId}`);
    const middleware = operationMiddleware(op, validators, handler, deps);
    router.register(
      op.routerPath,
      [op.method],
      [
        (ctx: Context, next: Next) => {
          operationOf.set(ctx, op);
          return next();
        },
        ...(compressed ? [compressDocuments] : []),
        middleware,
      ],
      { name: op.operationId },
    );
  }
  app.use(router.routes());
  app.use((ctx) => {
    const matched = router.match(ctx.path, ctx.method);
    const allowed = [...new Set(matched.path.flatMap((layer) => layer.methods))];
    if (allowed.length) {
      ctx.set('Allow', allowed.join(', '));
      throw new ProblemError('method-not-allowed', `${ctx.method} is not allowed on ${ctx.path}; allowed: ${allowed.join(', ')}.`);
    }
    throw new ProblemError('not-found', `No route ${ctx.method} ${ctx.path}.`);
  });
  const routes = router.stack.flatMap((layer) =>
    layer.methods.filter((m) => m !== 'HEAD').map((method) => ({ operationId: String(layer.name), method, path: layer.path as string })),
  );
  return { app, routes };
}

const routeOf = (op: OperationSpec | undefined) => op && { operationId: op.operationId, route: op.path };

function requestContext(deps: AppDeps, operationOf: WeakMap<Context, OperationSpec>) {
  return async (ctx: Context, next: Next) => {
    const started = process.hrtime.bigint();
    const requestId = newId('req');
    ctx.state.requestId = requestId;
    ctx.set('Request-Id', requestId);
    try {
      await next();
    } catch (err) {
      renderError(ctx, err, deps, operationOf.get(ctx), requestId);
    } finally {
      deps.metrics?.request(operationOf.get(ctx)?.operationId, ctx.method, ctx.status, Number(process.hrtime.bigint() - started) / 1e9);
      // The request's log line is built only when it is written (production runs at info, a load test at warn).
      if (deps.logger.isLevelEnabled('info')) {
        const inbound = ctx.get('x-request-id');
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        deps.logger.info(
          {
            requestId,
            correlationId: SANE_CORRELATION_ID.test(inbound) ? inbound : undefined,
            method: ctx.method,
            path: ctx.path,
            operationId: operationOf.get(ctx)?.operationId,
            status: ctx.status,
            ms: Math.round(ms * 10) / 10,
          },
          'request',
        );
      }
    }
  };
}

/** The status a problem is answered with on an operation: its own, but in a provider's envelope validation is 400. */
const renderedStatus = (op: OperationSpec, problem: ProblemError) =>
  op.errorFormat === 'problem' ? problem.status : problemEnvelope(op.errorFormat, problem).status;

/** The client closed the connection before its request was read: nobody waits for an answer, and nothing failed. */
const clientLeft = (ctx: Context, err: unknown) => ctx.req.destroyed && (err as NodeJS.ErrnoException | null | undefined)?.code === 'ECONNRESET';

function renderError(ctx: Context, err: unknown, deps: AppDeps, op: OperationSpec | undefined, requestId: string): void {
  if (clientLeft(ctx, err)) {
    deps.logger.info({ requestId, operationId: op?.operationId }, 'the client closed the connection before its request was read');
    // Never sent (the socket is gone); the request's log line shows it.
    ctx.status = 400;
    return;
  }
  if (err instanceof ClientClosed) {
    deps.logger.info({ requestId, operationId: op?.operationId }, 'the client closed the connection before it was answered');
    // Never sent either: 499, as proxies log a request whose client left.
    ctx.status = 499;
    return;
  }
  let problem: ProblemError;
  if (err instanceof ProblemError) {
    problem = err;
    try {
      checkProblemStatus(op, op ? renderedStatus(op, problem) : problem.status, deps);
    } catch (violation) {
      return renderError(ctx, violation, deps, undefined, requestId);
    }
  } else {
    const contract = err instanceof ContractViolation;
    deps.logger.error({ err, requestId, operationId: op?.operationId }, contract ? 'contract violation' : 'unhandled error');
    const detail =
      deps.config.env === 'production'
        ? `The server failed while handling this request; quote request id ${requestId} when reporting it.`
        : ((err as Error | null | undefined)?.message ?? String(err));
    problem = new ProblemError('internal-error', detail);
  }
  deps.metrics?.problem(problem.code);
  // Headers set before the failure (rate limits, Request-Id) stay; anything describing a success goes.
  for (const header of ['ETag', 'Location', 'Idempotent-Replayed']) ctx.remove(header);
  ctx.set(problem.extra.headers ?? {});
  if (op && op.errorFormat !== 'problem') {
    // The gateway's routes answer in the provider's envelope, which the official SDKs parse.
    const { status, body } = problemEnvelope(op.errorFormat, problem);
    ctx.status = status;
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(body);
  } else {
    ctx.status = problem.status;
    ctx.type = 'application/problem+json';
    ctx.body = JSON.stringify(problemBody(problem, ctx.path, requestId));
  }
  const validators = op && deps.validators.get(op.operationId);
  try {
    // Headers are checked in strict mode only, as in the respond step.
    if (op && validators && deps.config.responseValidation === 'strict') reportBreach(op, validators.headers(ctx.status, ctx.response.headers), deps);
  } catch (violation) {
    renderError(ctx, violation, deps, undefined, requestId);
  }
}
