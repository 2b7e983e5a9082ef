import type { Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import { fromJsonColumn } from '../../util/json-column.js';
import type { RunWaitingFor } from '../approvals/store.js';
import { askedBy, enterWait } from '../approvals/waits.js';
import type { StoredEvent } from '../runs/events.js';
import { transitionRun, type RunRow } from '../runs/store.js';
import { createSession } from './sessions.js';
import { integrationOfProvider, liveKey, type ConnectionOwner, type ConnectionRow, type IntegrationRow } from './store.js';

/** How long a run waits for its owner to connect before it is cancelled (the connect link lives as long). */
const CONNECTION_WAIT_MS = 7 * 86_400_000;

/** The owners whose connection a run may use, its own end-user's first, then the application's. */
export const ownersOfRun = (run: Pick<RunRow, 'end_user_id'>): ConnectionOwner[] => [
  ...(run.end_user_id ? [{ type: 'end_user' as const, id: run.end_user_id }] : []),
  { type: 'application', id: null },
];

/** The providers the run's agent version says it needs. */
async function neededProviders(db: Executor, run: RunRow): Promise<string[]> {
  const version = await db('agent_versions')
    .where({ agent_id: run.agent_id, version: run.agent_version })
    .first<{ connections: string } | undefined>('connections');
  return fromJsonColumn<string[]>(version?.connections, []);
}

type Gap = { providerId: string; integration: IntegrationRow | undefined; owner: ConnectionOwner };

/**
 * The first connection the run needs and does not have active: none of its owners has one, or
 * the one there is needs re-authorisation (or the application never enabled the provider). The
 * owner to ask is the run's end-user, else the application.
 */
async function firstGap(db: Executor, run: RunRow): Promise<Gap | undefined> {
  const owners = ownersOfRun(run);
  for (const providerId of await neededProviders(db, run)) {
    const integration = await integrationOfProvider(db, run.application_id, providerId);
    if (!integration) return { providerId, integration, owner: owners[0]! };
    const live = await db('connections')
      .whereIn(
        'live_key',
        owners.map((o) => liveKey(integration.id, o)),
      )
      .select<Pick<ConnectionRow, 'status'>[]>('status');
    if (!live.some((c) => c.status === 'active')) return { providerId, integration, owner: owners[0]! };
  }
  return undefined;
}

/**
 * A run just queued whose agent needs a connection it lacks waits for it, holding nothing, on a
 * `connection` approval whose payload (and the run's `waitingFor`) carries the connect link for
 * its owner; connecting admits it again. Undefined when it lacks nothing. A provider the
 * application has not enabled has no link to offer: `refuse` throws 422 (no run), `record`
 * cancels the run with error `connection_unavailable`.
 */
export async function parkForConnection(
  db: Executor,
  run: RunRow,
  otherwise: 'refuse' | 'record',
): Promise<{ row: RunRow; events: StoredEvent[] } | undefined> {
  const gap = await firstGap(db, run);
  if (!gap) return undefined;
  if (!gap.integration) {
    const detail = `The agent needs a connection to ${gap.providerId}, which this application has not enabled: create its integration first.`;
    if (otherwise === 'refuse') throw new ProblemError('validation-error', detail, { errors: [{ pointer: '/agentId', in: 'body', detail }] });
    return transitionRun(db, run, 'cancelled', { error_code: 'connection_unavailable', error_message: detail }, { reason: 'connection_unavailable' });
  }
  const session = await createSession(db, gap.integration, gap.owner, null, CONNECTION_WAIT_MS);
  const payload = { providerId: gap.providerId, integrationId: gap.integration.id, owner: gap.owner, connectUrl: session.connectUrl };
  const whose = gap.owner.type === 'end_user' ? 'your' : "the application's";
  return enterWait(
    db,
    run,
    {
      ...askedBy(run),
      kind: 'connection',
      title: `Connect ${whose} ${gap.providerId} account`,
      summary: `The run needs a connection to ${gap.providerId}. Open the connect link to make it; the run starts once it is made. Reject to cancel the run.`,
      payload,
      payloadSchema: null,
      responseSchema: null,
      assignees: [gap.owner.type === 'end_user' ? { type: 'end_user' } : { type: 'role', role: 'admin' }],
      expiresAt: session.expiresAt,
      onExpire: 'cancel_run',
      metadata: {},
      checkpoint: null,
    },
    { required_action: null, lease_expires_at: null, deadline_at: null, timeout_left_ms: null },
    { reason: 'connection_missing', providerId: gap.providerId },
  );
}

const WAKE_BATCH = 500;

/** The runs waiting for a connection of this integration and owner, oldest first. */
export async function runsWaitingFor(db: Executor, applicationId: string, integrationId: string, owner: ConnectionOwner): Promise<string[]> {
  const rows = await db('approvals')
    .where({ application_id: applicationId, kind: 'connection', status: 'pending' })
    .orderBy([{ column: 'created_at' }, { column: 'id' }])
    .limit(WAKE_BATCH)
    .select<{ run_id: string; payload: string }[]>('run_id', 'payload');
  return rows
    .filter((r) => {
      const p = fromJsonColumn<{ integrationId?: string; owner?: ConnectionOwner }>(r.payload, {});
      return p.integrationId === integrationId && p.owner?.type === owner.type && (p.owner.id ?? null) === owner.id;
    })
    .map((r) => r.run_id);
}

/** Whether a run waits for a connection (and not for something else by now). */
export const waitsForConnection = (run: RunRow) =>
  run.status === 'waiting' && fromJsonColumn<RunWaitingFor | null>(run.waiting_for, null)?.kind === 'connection';
