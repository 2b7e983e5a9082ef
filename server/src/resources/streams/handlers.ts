import type { Logger } from 'pino';
import { rowsSeenBy, type AuthContext } from '../../auth/identity.js';
import type { Executor } from '../../db/database.js';
import { defineHandlers, type HandlerInput } from '../handler-types.js';
import { EVENT_STREAM, openEventStream, resumePoint, type StreamRegistry, type StreamSource } from '../../realtime/sse.js';
import { getAgent } from '../agents/store.js';
import { mayDecide } from '../approvals/deciders.js';
import type { Approval } from '../approvals/store.js';
import { applicationEventsBetween, runEventsAfter, type RunEvent, type RunEventBus, type StoredEvent } from '../runs/events.js';
import type { Versioning } from '../../versions/versioning.js';
import { runMachine, type RunStatus } from '../runs/state-machine.js';
import { findRunRow } from '../runs/store.js';
import { getThread } from '../threads/store.js';
import * as store from './store.js';

type Source = StreamSource<StoredEvent>;

/**
 * Server-Sent Events of runs, history then live. A stream is a read: its `db` is the pool, which
 * it reads through for as long as it is open.
 */
export function streamHandlers(
  bus: RunEventBus,
  options: { pingSeconds: number; logger: Logger; registry: StreamRegistry; versioning: Versioning; stopping?: AbortSignal },
) {
  const { pingSeconds, logger, registry, versioning, stopping } = options;
  const pingMs = pingSeconds * 1000;

  /**
   * A stream over the application's cursor, optionally narrowed to one agent's runs or one
   * thread's, to events of some types, and to one end-user's when it acts for one.
   */
  const applicationSource = (db: Executor, auth: AuthContext, only: { agentId?: string; threadId?: string; typePrefix?: string } = {}): Source => ({
    applicationId: auth.applicationId,
    accepts: (e) =>
      (!only.agentId || e.agentId === only.agentId) &&
      (!only.threadId || e.threadId === only.threadId) &&
      (!only.typePrefix || e.event.type.startsWith(only.typePrefix)) &&
      (!auth.endUserId || e.endUserId === auth.endUserId),
    track: (e) => e.event.cursor,
    position: (e) => e.event.cursor,
    load: (after, upTo, limit) => applicationEventsBetween(db, auth.applicationId, after, upTo, limit, { ...only, endUserId: auth.endUserId }),
    head: () => store.lastCursor(db, auth.applicationId),
  });

  const respond = (input: HandlerInput<'streamRuns' | 'streamAgentRuns' | 'streamRun' | 'streamThread' | 'streamInbox'>, source: Source) => {
    const after = resumePoint(input.headers['Last-Event-ID'], input.query.after);
    // A stream renders its events in the version of the request that opened it.
    const render = versioning.lowersRunEvents(input.apiVersion) ? (event: RunEvent) => versioning.lowerRunEvent(input.apiVersion, event) : undefined;
    const stream = openEventStream(input.ctx, bus, source, after, { pingMs, logger, registry, render, stopping });
    return { status: 200 as const, body: '', stream, contentType: EVENT_STREAM.contentType, headers: EVENT_STREAM.headers };
  };

  return defineHandlers({
    streamRun: async (input) => {
      const { db } = input;
      const run = await findRunRow(db, { id: input.path.runId, ...rowsSeenBy(input.auth) });
      // A run's terminal status commits with its last event: a resume point at or past that event
      // has nothing more to get, and 204 is what stops an EventSource from reconnecting.
      const after = resumePoint(input.headers['Last-Event-ID'], input.query.after);
      if (runMachine.isTerminal(run.status) && after >= Number(run.last_seq)) return { status: 204 as const, body: undefined };
      return respond(input, {
        applicationId: run.application_id,
        accepts: (e) => e.event.runId === run.id,
        track: (e) => (e.event.runId === run.id ? e.event.seq : undefined),
        position: (e) => e.event.seq,
        load: async (after, upTo, limit) =>
          (await runEventsAfter(db, run.id, after, limit, upTo)).map((event): StoredEvent => ({
            applicationId: run.application_id,
            agentId: run.agent_id,
            endUserId: run.end_user_id,
            threadId: run.thread_id,
            event,
          })),
        head: async () => (await store.runProgress(db, run.id)).numberedSeq,
        endsAfter: (e) => e.event.type === 'status' && runMachine.isTerminal(e.event.data.status as RunStatus),
        finished: async () => (await store.runProgress(db, run.id)).done,
      });
    },

    streamAgentRuns: async (input) => {
      const agent = await getAgent(input.db, input.auth.applicationId, input.path.agentId);
      return respond(input, applicationSource(input.db, input.auth, { agentId: agent.id }));
    },

    streamThread: async (input) => {
      const thread = await getThread(input.db, rowsSeenBy(input.auth), input.path.threadId);
      return respond(input, applicationSource(input.db, input.auth, { threadId: thread.id }));
    },

    streamRuns: async (input) => respond(input, applicationSource(input.db, input.auth)),

    // What listInbox lists, as it changes: the approval events of what the caller may decide.
    streamInbox: async (input) => {
      const { kind, agentId, threadId } = input.query;
      const source = applicationSource(input.db, input.auth, { agentId, threadId, typePrefix: 'approval.' });
      const approvalOf = (e: StoredEvent) => e.event.data as unknown as Approval;
      return respond(input, {
        ...source,
        accepts: (e) => source.accepts(e) && (!kind || approvalOf(e).kind === kind) && mayDecide(input.auth, approvalOf(e)),
      });
    },
  });
}
