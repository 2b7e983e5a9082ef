import type { components } from '../../generated/openapi.js';
import { isPostgres, type Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import { fromJsonColumn } from '../../util/json-column.js';
import { appendEvents, type StoredEvent } from '../runs/events.js';
import { findRunRow, transitionRun, type RunChanges, type RunRow } from '../runs/store.js';
import { appendMessages, lastMessages, type MessageInput } from './store.js';

export type ClaimedThread = components['schemas']['ClaimedThread'];
export type MultitaskStrategy = NonNullable<components['schemas']['ThreadRunCreate']['multitaskStrategy']>;

/** Messages a claim carries: enough for a model's context, and a claim stays small. */
const CLAIMED_MESSAGES = 200;

/** Statuses of a run that occupies its thread: the unique index `runs_thread_active` admits one. */
export const THREAD_ACTIVE = ['running', 'waiting'] as const;
/** Statuses of a run the thread has not finished with. */
const UNFINISHED = ['queued', ...THREAD_ACTIVE] as const;

/** The thread's other runs that are queued, running or waiting, oldest first, locked (the thread must be locked first). */
async function unfinishedRuns(trx: Executor, threadId: string, except: string): Promise<RunRow[]> {
  const ids = await trx('runs')
    .where({ thread_id: threadId })
    .whereNot({ id: except })
    .whereIn('status', [...UNFINISHED])
    .orderBy([{ column: 'created_at' }, { column: 'id' }])
    .select<{ id: string }[]>('id');
  const rows: RunRow[] = [];
  for (const { id } of ids) rows.push(await findRunRow(trx, { id }, true));
  return rows.filter((row) => (UNFINISHED as readonly string[]).includes(row.status));
}

/**
 * Applies the multitask strategy of a run just queued on a locked thread: `reject` refuses it
 * while a run is unfinished (409 thread-busy), `interrupt` cancels those runs as superseded by
 * `newRunId`, `enqueue` leaves them (claims take a thread's runs in order, one at a time).
 */
export async function makeRoom(trx: Executor, threadId: string, strategy: MultitaskStrategy, newRunId: string): Promise<StoredEvent[]> {
  if (strategy === 'enqueue') return [];
  const unfinished = await unfinishedRuns(trx, threadId, newRunId);
  if (!unfinished.length) return [];
  if (strategy === 'reject') {
    const active = unfinished.find((row) => row.status !== 'queued') ?? unfinished[0]!;
    throw new ProblemError('thread-busy', `Thread ${threadId} has run ${active.id} ${active.status}; multitaskStrategy reject starts no other.`, {
      activeRunId: active.id,
    });
  }
  const events: StoredEvent[] = [];
  for (const row of unfinished) {
    const changes: RunChanges = { error_code: 'superseded', error_message: `Superseded by run ${newRunId} on the thread (multitaskStrategy interrupt).` };
    events.push(...(await transitionRun(trx, row, 'cancelled', changes, { supersededBy: newRunId })).events);
  }
  return events;
}

/** The thread's oldest run it has not finished with, if any. */
const firstUnfinished = (trx: Executor, threadId: string) =>
  trx('runs')
    .where({ thread_id: threadId })
    .whereIn('status', [...UNFINISHED])
    .orderBy([{ column: 'created_at' }, { column: 'id' }])
    .first<{ id: string; status: string } | undefined>('id', 'status');

export const hasUnfinishedRuns = async (trx: Executor, threadId: string) => (await firstUnfinished(trx, threadId)) !== undefined;

/** 409 thread-busy while the thread has a run it has not finished with (deleting it is refused). */
export async function assertThreadIdle(trx: Executor, threadId: string): Promise<void> {
  const row = await firstUnfinished(trx, threadId);
  if (row) throw new ProblemError('thread-busy', `Thread ${threadId} has run ${row.id} ${row.status}: cancel it or let it end first.`, { activeRunId: row.id });
}

/**
 * The messages a thread run being claimed adds to its thread as it starts (none for a run without
 * a thread, or re-claimed). The claim holds the run's lock, so it takes the thread's without
 * waiting (a request holding the thread may be about to lock this run): `undefined` when the
 * thread is locked, and the claim tries again.
 */
export async function messagesToStart(trx: Executor, row: RunRow): Promise<MessageInput[] | undefined> {
  if (!row.thread_id || row.thread_messages === null) return [];
  if (isPostgres(trx)) {
    const thread = await trx('threads').where({ id: row.thread_id }).forUpdate().skipLocked().first<{ id: string } | undefined>('id');
    if (!thread) return undefined;
  }
  return fromJsonColumn<MessageInput[]>(row.thread_messages, []);
}

/**
 * Adds messages of a run to its thread (locked by the caller), each also a `thread.message` event
 * of the run, so the thread's stream carries them; returns the events to publish.
 */
export async function addRunMessages(trx: Executor, run: RunRow, messages: MessageInput[]): Promise<StoredEvent[]> {
  if (!run.thread_id || !messages.length) return [];
  const added = await appendMessages(trx, run.thread_id, messages, run.id);
  return (
    await appendEvents(
      trx,
      run,
      added.map((message) => ({ type: 'thread.message', data: message })),
    )
  ).stored;
}

/** The thread a claim carries: its state and its last messages. */
export async function claimedThread(db: Executor, threadId: string): Promise<ClaimedThread | null> {
  const thread = await db('threads').where({ id: threadId }).first<{ state: string; state_version: number | string } | undefined>('state', 'state_version');
  if (!thread) return null;
  return {
    id: threadId,
    state: fromJsonColumn(thread.state, {}),
    stateVersion: Number(thread.state_version),
    ...(await lastMessages(db, threadId, CLAIMED_MESSAGES)),
  };
}

/**
 * Locks the thread of the run behind a lease before the run, the order every change to a thread
 * and its runs takes (see `makeRoom`); 422 when the run has none.
 */
export async function lockThreadOfLease(trx: Executor, leaseId: string, applicationId: string): Promise<void> {
  const run = await trx('runs').where({ lease_id: leaseId, application_id: applicationId }).first<{ thread_id: string | null } | undefined>('thread_id');
  // An unknown lease is the lease check's to refuse.
  if (!run) return;
  if (!run.thread_id) {
    const detail = 'The run is not on a thread: only a run started with createThreadRun adds messages.';
    throw new ProblemError('validation-error', detail, { errors: [{ pointer: '/messages', in: 'body', detail }] });
  }
  await trx('threads').where({ id: run.thread_id }).forUpdate().first('id');
}
