import type { Knex } from 'knex';
import type { Middleware } from 'koa';

export type SpanAttributes = Record<string, string | number | boolean | undefined>;

/** An outgoing call's span: its attributes as they become known, and the `traceparent` the receiver is sent. */
export type ClientSpan = {
  readonly traceparent: string;
  set(attributes: SpanAttributes): void;
  /** Ends it; with `error` its status is an error, saying only that (never a body). */
  end(error?: string): void;
};

/** What the server's code records, through OpenTelemetry (observability/otel.ts) when tracing is configured. */
export type Tracer = {
  /** One SERVER span per request, continuing an incoming `traceparent`; `describe` names its operation once routed. */
  requests(describe: (ctx: Parameters<Middleware>[0]) => { operationId: string; route: string } | undefined): Middleware;
  /** Every statement knex runs inside a traced request or call becomes a child span (the SQL text, never its values). */
  instrumentDatabase(db: Knex, system: 'sqlite' | 'postgresql'): void;
  /** A statement run on SQLite beside knex (db/statements.ts) as a child span of the current one. */
  statement<T>(sql: string, run: () => T): T;
  /**
   * The trace a new run belongs to: the creating request's, for a run the API created; else (a
   * schedule's, a trigger's, a task's) a trace of its own.
   */
  runContext(triggeredBy: string, runId: string): string | undefined;
  /** Records a claim of a run in the run's trace and returns the context its runner continues it with. */
  claim(runContext: string | null, attributes: SpanAttributes): string | undefined;
  /** Records the `run` span, created to ended, in the run's trace. */
  run(runContext: string | null, startedAtMs: number, endedAtMs: number, attributes: SpanAttributes): void;
  /** A CLIENT span for a call to another server, a child of the current span (or a root when there is none). */
  client(name: string, attributes: SpanAttributes): ClientSpan;
  /** Runs `work` outside any trace: background work a request only woke up is not part of it. */
  detached<T>(work: () => T): T;
  /** Sends what is still buffered, and stops. */
  shutdown(): Promise<void>;
};

let active: Tracer | undefined;

/** The tracer when tracing is on, else undefined: each hook pays one check for it. */
export const tracer = (): Tracer | undefined => active;

/** Runs background work outside the trace of whatever woke it up (a request's commit, say). */
export const untraced = <T>(work: () => T): T => (active ? active.detached(work) : work());

/** Tracing is on only where an OTLP endpoint is configured (the standard variables the exporter reads). */
export const tracingConfigured = (env: NodeJS.ProcessEnv) => Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);

/** Starts tracing when configured; the OpenTelemetry SDK is loaded only then. */
export async function startTracing(env: NodeJS.ProcessEnv = process.env): Promise<Tracer | undefined> {
  if (!tracingConfigured(env)) return undefined;
  const { createTracer } = await import('./otel.js');
  active = createTracer(env);
  return active;
}

/** Flushes and stops tracing, if it was started. */
export async function stopTracing(): Promise<void> {
  const stopping = active;
  active = undefined;
  await stopping?.shutdown();
}
