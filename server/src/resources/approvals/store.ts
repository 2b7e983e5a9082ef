import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { columnsOf, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { insertRows } from '../../db/statements.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';

export type Approval = components['schemas']['Approval'];
export type ApprovalStatus = Approval['status'];
export type ApprovalDecision = components['schemas']['ApprovalDecision'];
export type ApprovalActor = components['schemas']['ApprovalActor'];
export type ApprovalComment = components['schemas']['ApprovalComment'];
export type RunWaitingFor = components['schemas']['RunWaitingFor'];
export type RunResumption = components['schemas']['RunResumption'];
type JsonObject = components['schemas']['JsonObject'];
/** A resumption as `runs.resume` keeps it: the checkpoint stays with the approval (approvalCheckpoint). */
export type StoredResumption = Omit<RunResumption, 'checkpoint'>;

export type ApprovalRow = {
  id: string;
  application_id: string;
  run_id: string;
  thread_id: string | null;
  agent_id: string;
  end_user_id: string | null;
  kind: Approval['kind'];
  title: string;
  summary: string | null;
  payload: string;
  payload_schema: string | null;
  response_schema: string | null;
  assignees: string;
  status: ApprovalStatus;
  decision: string | null;
  expires_at: string;
  on_expire: Approval['onExpire'];
  resolved_at: string | null;
  metadata: string;
  created_at: string;
  updated_at: string;
};

const APPROVAL_COLUMNS = columnsOf<ApprovalRow>({
  id: true,
  application_id: true,
  run_id: true,
  thread_id: true,
  agent_id: true,
  end_user_id: true,
  kind: true,
  title: true,
  summary: true,
  payload: true,
  payload_schema: true,
  response_schema: true,
  assignees: true,
  status: true,
  decision: true,
  expires_at: true,
  on_expire: true,
  resolved_at: true,
  metadata: true,
  created_at: true,
  updated_at: true,
});

export const toApproval = (row: ApprovalRow): Approval => ({
  id: row.id,
  object: 'approval',
  applicationId: row.application_id,
  runId: row.run_id,
  threadId: row.thread_id,
  agentId: row.agent_id,
  endUserId: row.end_user_id,
  kind: row.kind,
  title: row.title,
  summary: row.summary,
  payload: fromJsonColumn(row.payload, {}),
  payloadSchema: fromJsonColumn(row.payload_schema, null),
  responseSchema: fromJsonColumn(row.response_schema, null),
  assignees: fromJsonColumn(row.assignees, []),
  status: row.status,
  decision: fromJsonColumn(row.decision, null),
  expiresAt: row.expires_at,
  onExpire: row.on_expire,
  resolvedAt: row.resolved_at,
  metadata: fromJsonColumn(row.metadata, {}),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export type NewApproval = Omit<Approval, 'id' | 'object' | 'status' | 'decision' | 'resolvedAt' | 'createdAt' | 'updatedAt'> & {
  /** What the run keeps for when it resumes; stored beside the approval, never shown with it. */
  checkpoint?: JsonObject | null;
};

export async function insertApproval(db: Executor, approval: NewApproval): Promise<ApprovalRow> {
  const now = nowIso();
  const row: ApprovalRow = {
    id: newId('appr'),
    application_id: approval.applicationId,
    run_id: approval.runId,
    thread_id: approval.threadId,
    agent_id: approval.agentId,
    end_user_id: approval.endUserId,
    kind: approval.kind,
    title: approval.title,
    summary: approval.summary,
    payload: toJsonColumn(approval.payload),
    payload_schema: approval.payloadSchema ? toJsonColumn(approval.payloadSchema) : null,
    response_schema: approval.responseSchema ? toJsonColumn(approval.responseSchema) : null,
    assignees: toJsonColumn(approval.assignees),
    status: 'pending',
    decision: null,
    expires_at: approval.expiresAt,
    on_expire: approval.onExpire,
    resolved_at: null,
    metadata: toJsonColumn(approval.metadata),
    created_at: now,
    updated_at: now,
  };
  await insertRows(db, 'approvals', [{ ...row, checkpoint: approval.checkpoint ? toJsonColumn(approval.checkpoint) : null }]);
  return row;
}

/** The checkpoint a run asked with (the claim that resumes it gives it back); null when it gave none. */
export async function approvalCheckpoint(db: Executor, id: string): Promise<JsonObject | null> {
  const found = (await db('approvals').select('checkpoint').where({ id }).first()) as { checkpoint: string | null } | undefined;
  return fromJsonColumn(found?.checkpoint ?? null, null);
}

/** The approvals a request sees: its application's, and only its end-user's runs' when it acts for one. */
export type ApprovalsSeen = { application_id: string; end_user_id?: string };

export async function getApprovalRow(db: Executor, seen: ApprovalsSeen, id: string, options: ReadOptions = {}): Promise<ApprovalRow> {
  return getRow<ApprovalRow>(db, 'approvals', { id, ...seen }, 'approval', options, APPROVAL_COLUMNS);
}

/** An approval by id alone, locked (the expiry sweeper's read); undefined when it is gone. */
export async function findApprovalRow(db: Executor, id: string): Promise<ApprovalRow | undefined> {
  return (await db('approvals').select(APPROVAL_COLUMNS).where({ id }).first().forUpdate()) as ApprovalRow | undefined;
}

/**
 * Ends a pending approval: its status, decision and resolution time. The update is conditional on
 * the approval still being pending, so of two concurrent resolutions one changes the row and the
 * other learns it lost (false), whatever the database's locking.
 */
export async function resolveApproval(
  db: Executor,
  row: ApprovalRow,
  status: ApprovalStatus,
  decision: ApprovalDecision | null,
): Promise<ApprovalRow | undefined> {
  const now = nowIso();
  const changes = { status, decision: decision ? toJsonColumn(decision) : null, resolved_at: now, updated_at: now };
  const updated = await db('approvals').where({ id: row.id, status: 'pending' }).update(changes);
  return updated === 1 ? { ...row, ...changes } : undefined;
}

export type ApprovalFilters = PageQuery & {
  status?: ApprovalStatus;
  kind?: Approval['kind'];
  runId?: string;
  threadId?: string;
  agentId?: string;
};

function filtered(db: Executor, seen: ApprovalsSeen, filters: ApprovalFilters) {
  const query = db('approvals').select(APPROVAL_COLUMNS).where(seen);
  if (filters.status) query.where({ status: filters.status });
  if (filters.kind) query.where({ kind: filters.kind });
  if (filters.runId) query.where({ run_id: filters.runId });
  if (filters.threadId) query.where({ thread_id: filters.threadId });
  if (filters.agentId) query.where({ agent_id: filters.agentId });
  return query;
}

export function listApprovals(db: Executor, seen: ApprovalsSeen, filters: ApprovalFilters) {
  return listPage(filtered(db, seen, filters), filters, { createdAt: 'created_at' }, toApproval);
}

/**
 * Who may decide what, as a query condition: the assignee kinds a caller matches (a user by id, the
 * roles at or under theirs, the run's end-user). `everything` for owners, admins and keys.
 */
export type DeciderMatch = { everything: true } | { everything: false; userId?: string; roles: string[]; endUser: boolean };

/** The pending approvals the caller may decide, the soonest to expire first (the inbox). */
export function listDecidable(db: Executor, seen: ApprovalsSeen, match: DeciderMatch, filters: ApprovalFilters) {
  const query = filtered(db, seen, { ...filters, status: 'pending' });
  if (!match.everything) {
    // Assignees are a JSON array; each kind's text is matched exactly as toJsonColumn writes it.
    const patterns: string[] = [];
    if (match.userId) patterns.push(`%${toJsonColumn({ type: 'user', userId: match.userId })}%`);
    for (const role of match.roles) patterns.push(`%${toJsonColumn({ type: 'role', role })}%`);
    if (match.endUser) patterns.push(`%${toJsonColumn({ type: 'end_user' })}%`);
    query.where((q) => {
      if (!match.endUser) q.where({ assignees: '[]' });
      for (const pattern of patterns) q.orWhere('assignees', 'like', pattern);
    });
  }
  return listPage(query, { ...filters, sort: 'expiresAt' }, { expiresAt: 'expires_at' }, toApproval);
}

/** The pending approval of a run (at most one: a run waits on one at a time). */
export async function pendingApprovalOf(db: Executor, runId: string, options: ReadOptions = {}): Promise<ApprovalRow | undefined> {
  const query = db('approvals').select(APPROVAL_COLUMNS).where({ run_id: runId, status: 'pending' }).first();
  if (options.forUpdate) query.forUpdate();
  return (await query) as ApprovalRow | undefined;
}

/** The ids of pending approvals past their expiry, oldest first. */
export async function expiredApprovalIds(db: Executor, limit: number): Promise<string[]> {
  const rows = (await db('approvals').select('id').where({ status: 'pending' }).where('expires_at', '<=', nowIso()).orderBy('expires_at').limit(limit)) as {
    id: string;
  }[];
  return rows.map((r) => r.id);
}

type CommentRow = {
  id: string;
  approval_id: string;
  body: string;
  author_type: ApprovalActor['type'];
  author_id: string;
  wake: boolean | number;
  created_at: string;
};

const toComment = (row: CommentRow): ApprovalComment => ({
  id: row.id,
  object: 'approval_comment',
  approvalId: row.approval_id,
  body: row.body,
  author: { type: row.author_type, id: row.author_id },
  wake: Boolean(row.wake),
  createdAt: row.created_at,
});

export async function insertComment(db: Executor, approvalId: string, body: string, author: ApprovalActor, wake: boolean): Promise<ApprovalComment> {
  const row: CommentRow = { id: newId('apcm'), approval_id: approvalId, body, author_type: author.type, author_id: author.id, wake, created_at: nowIso() };
  await insertRows(db, 'approval_comments', [row]);
  return toComment(row);
}

export function listComments(db: Executor, approvalId: string, params: PageQuery) {
  return listPage(db('approval_comments').where({ approval_id: approvalId }), { ...params, sort: 'createdAt' }, { createdAt: 'created_at' }, toComment);
}
