import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { defineHandlers, type HandlerInput } from '../http/handler-types.js';
import { getAgent } from '../resources/agents/store.js';
import { applicationEventsBetween, runEventsAfter, type StoredEvent } from '../resources/runs/events.js';
import { isTerminal, type RunStatus } from '../resources/runs/state-machine.js';
import { findRunRow } from '../resources/runs/store.js';
import type { EventBus } from './bus.js';
import { openEventStream, resumePoint, type StreamRegistry, type StreamSource } from './sse.js';

const SSE_HEADERS = { 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no', Connection: 'keep-alive' };

export function realtimeHandlers(db: Db, bus: EventBus, options: { pingSeconds: number; logger: Logger; registry: StreamRegistry }) {
  const { pingSeconds, logger, registry } = options;
  const pingMs = pingSeconds * 1000;

  /** A stream over the application's cursor, optionally narrowed to one agent's runs. */
  const applicationSource = (applicationId: string, agentId?: string): StreamSource => ({
    applicationId,
    accepts: (e) => !agentId || e.agentId === agentId,
    track: (e) => e.event.cursor,
    position: (e) => e.event.cursor,
    load: (after, upTo, limit) => applicationEventsBetween(db, applicationId, after, upTo, limit, agentId),
    head: async () => {
      const row = (await db('event_cursors').where({ application_id: applicationId }).first('last_cursor')) as { last_cursor: number | string } | undefined;
      return Number(row?.last_cursor ?? 0);
    },
  });

  const respond = (input: HandlerInput<'streamRuns' | 'streamAgentRuns' | 'streamRun'>, source: StreamSource) => {
    const after = resumePoint(input.headers['Last-Event-ID'], input.query.after);
    const stream = openEventStream(input.ctx, bus, source, after, { pingMs, logger, registry });
    return { status: 200 as const, body: '', stream, contentType: 'text/event-stream; charset=utf-8', headers: SSE_HEADERS };
  };

  return defineHandlers({
    streamRun: async (input) => {
      const run = await findRunRow(db, { id: input.path.runId, application_id: input.auth.applicationId });
      // A run's terminal status commits with its last event: a resume point at or past that event
      // has nothing more to get, and 204 is what stops an EventSource from reconnecting.
      const after = resumePoint(input.headers['Last-Event-ID'], input.query.after);
      if (isTerminal(run.status) && after >= Number(run.last_seq)) return { status: 204 as const, body: undefined };
      return respond(input, {
        applicationId: run.application_id,
        accepts: (e) => e.event.runId === run.id,
        track: (e) => (e.event.runId === run.id ? e.event.seq : undefined),
        position: (e) => e.event.seq,
        load: async (after, upTo, limit) =>
          (await runEventsAfter(db, run.id, after, limit, upTo)).map((event): StoredEvent => ({ applicationId: run.application_id, agentId: run.agent_id, event })),
        head: async () => Number(((await db('runs').where({ id: run.id }).first('last_seq')) as { last_seq: number | string }).last_seq),
        endsAfter: (e) => e.event.type === 'status' && isTerminal(e.event.data.status as RunStatus),
        finished: async () => isTerminal(((await db('runs').where({ id: run.id }).first('status')) as { status: RunStatus }).status),
      });
    },

    streamAgentRuns: async (input) => {
      const agent = await getAgent(db, input.auth.applicationId, input.path.agentId);
      return respond(input, applicationSource(input.auth.applicationId, agent.id));
    },

    streamRuns: async (input) => respond(input, applicationSource(input.auth.applicationId)),
  });
}
