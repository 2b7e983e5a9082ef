import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { columnsOf, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { notFound, ProblemError } from '../../problems/problems.js';
import { insertRows } from '../../db/statements.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { isoAfter, nowIso } from '../../util/time.js';

export type Thread = components['schemas']['Thread'];
export type ThreadMessage = components['schemas']['ThreadMessage'];
export type MessageInput = components['schemas']['ThreadMessageCreate'];
type Metadata = Record<string, string>;
type JsonObject = Thread['state'];

type ThreadRow = {
  id: string;
  application_id: string;
  agent_id: string | null;
  end_user_id: string | null;
  title: string | null;
  metadata: string;
  state: string;
  state_version: number | string;
  message_count: number | string;
  last_message_at: string | null;
  last_run_id: string | null;
  ttl_seconds: number | null;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
};
const STORED = columnsOf<ThreadRow>({
  id: true,
  application_id: true,
  agent_id: true,
  end_user_id: true,
  title: true,
  metadata: true,
  state: true,
  state_version: true,
  message_count: true,
  last_message_at: true,
  last_run_id: true,
  ttl_seconds: true,
  expires_at: true,
  created_at: true,
  updated_at: true,
});

/**
 * A thread's status, from its runs (never stored, so never stale): the active run waits, or a run
 * is queued or running, or the last run ended in error. Indexed by runs (thread_id, created_at).
 */
const STATUS = `(case
  when exists (select 1 from runs r where r.thread_id = threads.id and r.status = 'waiting') then 'waiting'
  when exists (select 1 from runs r where r.thread_id = threads.id and r.status in ('queued', 'running')) then 'busy'
  when (select r.status from runs r where r.id = threads.last_run_id) in ('failed', 'timed_out', 'expired') then 'error'
  else 'idle' end)`;
const COLUMNS = [...STORED, `${STATUS} as status`];

type MessageRow = {
  id: string;
  thread_id: string;
  seq: number | string;
  role: ThreadMessage['role'];
  content: string;
  run_id: string | null;
  metadata: string;
  created_at: string;
};

const MESSAGE_COLUMNS = columnsOf<MessageRow>({
  id: true,
  thread_id: true,
  seq: true,
  role: true,
  content: true,
  run_id: true,
  metadata: true,
  created_at: true,
});

const toThread = (row: ThreadRow & { status: Thread['status'] }): Thread => ({
  id: row.id,
  object: 'thread',
  applicationId: row.application_id,
  agentId: row.agent_id,
  endUserId: row.end_user_id,
  title: row.title,
  metadata: fromJsonColumn<Metadata>(row.metadata, {}),
  state: fromJsonColumn<JsonObject>(row.state, {}),
  stateVersion: Number(row.state_version),
  status: row.status,
  lastRunId: row.last_run_id,
  messageCount: Number(row.message_count),
  lastMessageAt: row.last_message_at,
  ttlSeconds: row.ttl_seconds,
  expiresAt: row.expires_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const toMessage = (row: MessageRow): ThreadMessage => ({
  id: row.id,
  object: 'thread_message',
  threadId: row.thread_id,
  seq: Number(row.seq),
  role: row.role,
  content: fromJsonColumn<ThreadMessage['content']>(row.content, []),
  runId: row.run_id,
  metadata: fromJsonColumn<Metadata>(row.metadata, {}),
  createdAt: row.created_at,
});

/** The threads a request sees (`rowsSeenBy`): its application's, and its end-user's only when it acts for one. */
type Seen = { application_id: string; end_user_id?: string };

/** An expired thread is not found, even before the sweeper deleted it. */
export async function getThread(db: Executor, seen: Seen, id: string, options: ReadOptions = {}): Promise<Thread> {
  const row = await getRow<ThreadRow & { status: Thread['status'] }>(db, 'threads', { id, ...seen }, 'thread', options, COLUMNS);
  if (row.expires_at !== null && row.expires_at <= nowIso()) throw notFound('thread', id);
  return toThread(row);
}

export function listThreads(db: Executor, seen: Seen, params: PageQuery & { agentId?: string; status?: Thread['status'] }) {
  const query = db('threads')
    .where(seen)
    .where((q) => {
      q.whereNull('expires_at').orWhere('expires_at', '>', nowIso());
    })
    .select([...STORED, db.raw(`${STATUS} as status`)]);
  if (params.agentId) query.where({ agent_id: params.agentId });
  if (params.status) query.whereRaw(`${STATUS} = ?`, [params.status]);
  return listPage(query, params, { createdAt: 'created_at', updatedAt: 'updated_at' }, toThread);
}

export type ThreadFields = { agentId: string | null; title: string | null; metadata: Metadata; state: JsonObject; ttlSeconds: number | null };

/** When a thread with this time to live expires if nothing else happens on it. */
const expiryOf = (ttlSeconds: number | null) => (ttlSeconds === null ? null : isoAfter(ttlSeconds * 1000));

/** A new thread of the application, for the end-user when one is named. */
export async function insertThread(db: Executor, owner: { applicationId: string; endUserId: string | null }, fields: ThreadFields): Promise<string> {
  const now = nowIso();
  const id = newId('thread');
  await db('threads').insert({
    id,
    application_id: owner.applicationId,
    agent_id: fields.agentId,
    end_user_id: owner.endUserId,
    title: fields.title,
    metadata: toJsonColumn(fields.metadata),
    state: toJsonColumn(fields.state),
    state_version: 0,
    message_count: 0,
    last_message_at: null,
    last_run_id: null,
    ttl_seconds: fields.ttlSeconds,
    expires_at: expiryOf(fields.ttlSeconds),
    created_at: now,
    updated_at: now,
  });
  return id;
}

/** Writes the fields; a replaced state grows its version. */
export async function updateThread(db: Executor, id: string, fields: ThreadFields, stateReplaced: boolean): Promise<void> {
  await db('threads')
    .where({ id })
    .update({
      agent_id: fields.agentId,
      title: fields.title,
      metadata: toJsonColumn(fields.metadata),
      state: toJsonColumn(fields.state),
      state_version: db.raw('state_version + ?', [stateReplaced ? 1 : 0]),
      ttl_seconds: fields.ttlSeconds,
      expires_at: expiryOf(fields.ttlSeconds),
      updated_at: nowIso(),
    });
}

export async function deleteThread(db: Executor, id: string): Promise<void> {
  await db('thread_messages').where({ thread_id: id }).delete();
  await db('threads').where({ id }).delete();
}

/**
 * Appends messages after the thread's last one: incrementing its count reserves their numbers
 * under the row's lock, so appends at the same time are numbered one after the other, without gaps.
 */
export async function appendMessages(db: Executor, threadId: string, messages: MessageInput[], runId: string | null = null): Promise<ThreadMessage[]> {
  if (!messages.length) return [];
  const now = nowIso();
  const [reserved] = await db('threads')
    .where({ id: threadId })
    .update({ message_count: db.raw('message_count + ?', [messages.length]), last_message_at: now, updated_at: now })
    .returning<{ message_count: number | string; ttl_seconds: number | null }[]>(['message_count', 'ttl_seconds']);
  await refreshExpiry(db, threadId, reserved!.ttl_seconds);
  const first = Number(reserved!.message_count) - messages.length + 1;
  const rows: MessageRow[] = messages.map((m, i) => ({
    id: newId('msg'),
    thread_id: threadId,
    seq: first + i,
    role: m.role,
    content: toJsonColumn(m.content),
    run_id: runId,
    metadata: toJsonColumn(m.metadata ?? {}),
    created_at: now,
  }));
  await insertRows(db, 'thread_messages', rows);
  return rows.map(toMessage);
}

export async function messagesAfter(db: Executor, threadId: string, after: number, limit: number) {
  const rows = await db('thread_messages')
    .where({ thread_id: threadId })
    .where('seq', '>', after)
    .orderBy('seq')
    .limit(limit + 1)
    .select<MessageRow[]>(MESSAGE_COLUMNS);
  const hasMore = rows.length > limit;
  const data = rows.slice(0, limit).map(toMessage);
  return { data, hasMore, nextAfter: hasMore ? data.at(-1)!.seq : null };
}

/** The thread's messages up to `upToSeq`, copied into `targetId` with the same numbers. */
export async function copyMessages(db: Executor, sourceId: string, targetId: string, upToSeq: number): Promise<void> {
  const now = nowIso();
  const rows = await db('thread_messages')
    .where({ thread_id: sourceId })
    .where('seq', '<=', upToSeq)
    .orderBy('seq')
    .select<MessageRow[]>('seq', 'role', 'content', 'run_id', 'metadata', 'created_at');
  const copies = rows.map((row) => ({ ...row, id: newId('msg'), thread_id: targetId }));
  for (let i = 0; i < copies.length; i += 500) await insertRows(db, 'thread_messages', copies.slice(i, i + 500));
  const last = rows.at(-1);
  await db('threads')
    .where({ id: targetId })
    .update({ message_count: rows.length, last_message_at: last?.created_at ?? null, updated_at: now });
}

/** The thread's last `limit` messages, in ascending order, and whether it has earlier ones. */
export async function lastMessages(db: Executor, threadId: string, limit: number): Promise<{ messages: ThreadMessage[]; hasEarlier: boolean }> {
  const rows = await db('thread_messages')
    .where({ thread_id: threadId })
    .orderBy('seq', 'desc')
    .limit(limit + 1)
    .select<MessageRow[]>(MESSAGE_COLUMNS);
  return { messages: rows.slice(0, limit).reverse().map(toMessage), hasEarlier: rows.length > limit };
}

/** A run started on the thread: activity, which moves its expiry on. */
export async function setLastRun(db: Executor, thread: Thread, runId: string): Promise<void> {
  await db('threads')
    .where({ id: thread.id })
    .update({ last_run_id: runId, expires_at: expiryOf(thread.ttlSeconds), updated_at: nowIso() });
}

/** Activity on a thread with a time to live moves its expiry on. */
async function refreshExpiry(db: Executor, threadId: string, ttlSeconds: number | null): Promise<void> {
  if (ttlSeconds !== null)
    await db('threads')
      .where({ id: threadId })
      .update({ expires_at: expiryOf(ttlSeconds) });
}

/** Threads past their expiry, oldest first. */
export async function expiredThreadIds(db: Executor, limit: number): Promise<string[]> {
  const rows = await db('threads')
    .whereNotNull('expires_at')
    .where('expires_at', '<=', nowIso())
    .orderBy('expires_at')
    .limit(limit)
    .select<{ id: string }[]>('id');
  return rows.map((r) => r.id);
}

/** A thread as stored, expired or not, locked: for the sweeper, which decides. */
export async function lockedThread(db: Executor, id: string): Promise<Thread | undefined> {
  // Gone already (another replica swept it): nothing to do. Any other failure is the pass's.
  const row = await getRow<ThreadRow & { status: Thread['status'] }>(db, 'threads', { id }, 'thread', { forUpdate: true }, COLUMNS).catch((err: unknown) => {
    if (err instanceof ProblemError && err.code === 'not-found') return undefined;
    throw err;
  });
  return row && toThread(row);
}
