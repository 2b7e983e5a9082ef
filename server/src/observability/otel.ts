import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import {
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_SYSTEM_NAME,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_NAME,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import type { ClientSpan, SpanAttributes, Tracer } from './tracing.js';

type KnexQuery = { __knexQueryUid: string; sql: string };

/** A span's context as a W3C `traceparent` (what runs store and runners are given). */
const traceparentOf = (ctx: Context): string | undefined => {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent;
};

/** The context a stored `traceparent` stands for (the root, for none or a malformed one). */
const contextOf = (traceparent: string | null): Context => (traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }) : ROOT_CONTEXT);

/**
 * Statements become spans only inside a span still in progress: the periodic sweeps would otherwise
 * each start a trace, and work a request set off after it answered (a timer, a nudge) would land
 * in a span that has ended.
 */
const inRecordedSpan = () => trace.getSpan(context.active())?.isRecording() === true;

const operationOf = (sql: string) => /^\s*(\w+)/.exec(sql)?.[1]?.toLowerCase() ?? 'query';

/**
 * The OpenTelemetry SDK, set up from the standard OTEL_* variables (endpoint, headers, sampler,
 * batch delays, resource attributes); the service is `switchboard` unless OTEL_SERVICE_NAME says
 * otherwise. Spans are sent as OTLP over HTTP. Contexts follow async calls (AsyncLocalStorage).
 */
export function createTracer(env: NodeJS.ProcessEnv): Tracer {
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'switchboard' }))
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  provider.register();
  const tracer = provider.getTracer('switchboard', env.npm_package_version);

  /** A span already ended, in the trace of `parent`, linked to the current span: a record of something that happened now. */
  const mark = (name: string, parent: Context, attributes: SpanAttributes) => {
    const current = trace.getSpan(context.active());
    const span = tracer.startSpan(name, { attributes, links: current ? [{ context: current.spanContext() }] : [] }, parent);
    span.end();
    return span;
  };

  return {
    requests(describe) {
      return async (ctx, next) => {
        const parent = propagation.extract(ROOT_CONTEXT, ctx.headers);
        const span = tracer.startSpan(
          ctx.method,
          { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: ctx.method, [ATTR_URL_PATH]: ctx.path } },
          parent,
        );
        try {
          await context.with(trace.setSpan(parent, span), next);
        } finally {
          const operation = describe(ctx);
          if (operation) {
            span.updateName(`${ctx.method} ${operation.route} ${operation.operationId}`);
            span.setAttributes({ [ATTR_HTTP_ROUTE]: operation.route, 'switchboard.operation_id': operation.operationId });
          }
          const applicationId = (ctx.state as { applicationId?: string }).applicationId;
          if (applicationId) span.setAttribute('switchboard.application_id', applicationId);
          span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, ctx.status);
          if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        }
      };
    },

    instrumentDatabase(db, system) {
      const spans = new Map<string, Span>();
      const finish = (query: KnexQuery, error?: Error) => {
        const span = spans.get(query.__knexQueryUid);
        if (!span) return;
        spans.delete(query.__knexQueryUid);
        if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
        span.end();
      };
      db.on('query', (query: KnexQuery) => {
        if (!inRecordedSpan()) return;
        const operation = operationOf(query.sql);
        spans.set(
          query.__knexQueryUid,
          tracer.startSpan(operation, {
            kind: SpanKind.CLIENT,
            attributes: { [ATTR_DB_SYSTEM_NAME]: system, 'db.system': system, [ATTR_DB_OPERATION_NAME]: operation, [ATTR_DB_QUERY_TEXT]: query.sql },
          }),
        );
      });
      db.on('query-response', (_response: unknown, query: KnexQuery) => finish(query));
      db.on('query-error', (error: Error, query: KnexQuery) => finish(query, error));
    },

    statement(sql, run) {
      if (!inRecordedSpan()) return run();
      const operation = operationOf(sql);
      const span = tracer.startSpan(operation, {
        kind: SpanKind.CLIENT,
        attributes: { [ATTR_DB_SYSTEM_NAME]: 'sqlite', 'db.system': 'sqlite', [ATTR_DB_OPERATION_NAME]: operation, [ATTR_DB_QUERY_TEXT]: sql },
      });
      try {
        return run();
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        throw err;
      } finally {
        span.end();
      }
    },

    runContext(triggeredBy, runId) {
      const current = context.active();
      if (triggeredBy === 'api' && trace.getSpan(current)) return traceparentOf(current);
      const span = mark('create run', ROOT_CONTEXT, { 'switchboard.run_id': runId, 'switchboard.run.triggered_by': triggeredBy });
      return traceparentOf(trace.setSpan(ROOT_CONTEXT, span));
    },

    claim(runContext, attributes) {
      const parent = contextOf(runContext);
      return traceparentOf(trace.setSpan(parent, mark('claim', parent, attributes)));
    },

    run(runContext, startedAtMs, endedAtMs, attributes) {
      tracer.startSpan('run', { attributes, startTime: startedAtMs }, contextOf(runContext)).end(endedAtMs);
    },

    client(name, attributes): ClientSpan {
      const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes });
      return {
        traceparent: traceparentOf(trace.setSpan(context.active(), span)) ?? '',
        set: (more) => span.setAttributes(more),
        end(error) {
          if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
          span.end();
        },
      };
    },

    detached: (work) => context.with(ROOT_CONTEXT, work),

    shutdown: () => provider.shutdown(),
  };
}
