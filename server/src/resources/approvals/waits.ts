import type { components } from '../../generated/openapi.js';
import type { Db, Executor } from '../../db/database.js';
import { ProblemError, type ValidationIssue } from '../../problems/problems.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { isoAfter, nowIso, nowMs } from '../../util/time.js';
import { appendEvents, type StoredEvent } from '../runs/events.js';
import { findRunRow, queuedAgain, toRun, transitionRun, type RunChanges, type RunRow } from '../runs/store.js';
import { recordEvent } from '../webhooks/outbox.js';
import { admitRun, budgetsFor, spenderOfRun } from '../budgets/enforcement.js';
import { compileUserSchema, schemaIssues } from './user-schemas.js';
import {
  expiredApprovalIds,
  findApprovalRow,
  insertApproval,
  resolveApproval,
  toApproval,
  type Approval,
  type ApprovalDecision,
  type ApprovalRow,
  type ApprovalStatus,
  type NewApproval,
  type StoredResumption,
  type RunWaitingFor,
} from './store.js';

type ApprovalCreate = components['schemas']['ApprovalCreate'];
type Assignee = components['schemas']['ApprovalAssignee'];

const DEFAULT_EXPIRY_SECONDS = 86_400;

const invalid = (issues: ValidationIssue[]) => new ProblemError('validation-error', issues.map((i) => i.detail).join(' '), { errors: issues });

/** Assignees written the one way the inbox matches them (store.ts, listDecidable), whatever order the request gave. */
const canonical = (assignee: Assignee): Assignee =>
  assignee.type === 'user'
    ? { type: 'user', userId: assignee.userId }
    : assignee.type === 'role'
      ? { type: 'role', role: assignee.role }
      : { type: 'end_user' };

/** What the request asks that the schemas alone cannot check: a well-formed JSON Schema, a payload that fits it, assignees that exist. */
async function checkRequest(db: Executor, run: RunRow, organizationId: string, body: ApprovalCreate): Promise<void> {
  const kind = body.kind ?? 'approval';
  const issues: ValidationIssue[] = [];
  if (kind === 'input' && body.payloadSchema)
    issues.push({ pointer: '/payloadSchema', detail: 'An input request has no payload to edit: leave payloadSchema out (responseSchema shapes the answer).' });
  if (kind === 'approval' && body.responseSchema)
    issues.push({ pointer: '/responseSchema', detail: 'An approval is approved or rejected, not answered: responseSchema is for kind input.' });
  for (const field of ['payloadSchema', 'responseSchema'] as const) {
    const schema = body[field];
    if (!schema) continue;
    const compiled = compileUserSchema(schema);
    if ('error' in compiled) issues.push({ pointer: `/${field}`, detail: `${field} is not a usable JSON Schema: ${compiled.error}` });
    else if (field === 'payloadSchema') issues.push(...schemaIssues(compiled.validate, body.payload ?? {}, '/payload', 'payload'));
  }
  const assignees = body.assignees ?? [];
  assignees.forEach((a, i) => {
    if (a.type === 'end_user' && !run.end_user_id)
      issues.push({ pointer: `/assignees/${i}`, detail: 'The run is for no end-user, so no end-user can decide.' });
  });
  const userIds = assignees.flatMap((a) => (a.type === 'user' ? [a.userId] : []));
  if (userIds.length) {
    const rows: { user_id: string }[] = await db('memberships').where({ organization_id: organizationId }).whereIn('user_id', userIds).select('user_id');
    const members = new Set(rows.map((m) => m.user_id));
    assignees.forEach((a, i) => {
      if (a.type === 'user' && !members.has(a.userId))
        issues.push({ pointer: `/assignees/${i}/userId`, detail: `User ${a.userId} is no member of the organization.` });
    });
  }
  if (issues.length) throw invalid(issues);
}

/**
 * A run asks a person (the run token's `createRunApproval`): the approval, and the run in
 * `waiting` on it in the same transaction, holding no lease (its runner is free, its token dies)
 * and with its timeout stopped (what was left is kept for the claim that resumes it).
 */
export async function askPerson(
  trx: Executor,
  token: { runId: string; leaseId: string; fencingToken: number; organizationId: string },
  runId: string,
  body: ApprovalCreate,
): Promise<{ approval: Approval; events: StoredEvent[] }> {
  if (runId !== token.runId) throw new ProblemError('forbidden', `A run token asks only for its own run; this one is for ${token.runId}.`);
  const row = await findRunRow(trx, { id: runId }, true);
  const waitingFor = fromJsonColumn<RunWaitingFor | null>(row.waiting_for, null);
  if (row.status !== 'running' || row.lease_id !== token.leaseId || Number(row.fencing_token) !== token.fencingToken) {
    const why = waitingFor ? `it is already waiting on approval ${waitingFor.approvalId}` : `it is ${row.status}, under fencing token ${row.fencing_token}`;
    throw new ProblemError('lease-lost', `Run ${runId} is no longer running under this token's lease: ${why}.`);
  }
  await checkRequest(trx, row, token.organizationId, body);
  const kind = body.kind ?? 'approval';
  const payload = body.payload ?? {};
  const { approval, events } = await enterWait(
    trx,
    row,
    {
      ...askedBy(row),
      kind,
      title: body.title,
      summary: body.summary ?? null,
      payload,
      payloadSchema: body.payloadSchema ?? null,
      responseSchema: body.responseSchema ?? null,
      assignees: (body.assignees ?? []).map(canonical),
      expiresAt: isoAfter((body.expiresInSeconds ?? DEFAULT_EXPIRY_SECONDS) * 1000),
      onExpire: body.onExpire ?? 'reject',
      metadata: body.metadata ?? {},
      checkpoint: body.checkpoint ?? null,
    },
    {
      required_action: toJsonColumn({ type: kind, message: body.title, data: payload }),
      lease_expires_at: null,
      deadline_at: null,
      timeout_left_ms: row.deadline_at ? Math.max(0, Date.parse(row.deadline_at) - nowMs()) : null,
    },
  );
  return { approval, events };
}

/** What an approval names of the run that waits on it. */
export const askedBy = (row: RunRow) => ({
  applicationId: row.application_id,
  runId: row.id,
  threadId: row.thread_id,
  agentId: row.agent_id,
  endUserId: row.end_user_id,
});

/**
 * The approval a run waits on, and the run in `waiting` on it (with `changes`: what else moves
 * with it, a lease given up or kept), its `approval.requested` event first and its webhook.
 */
export async function enterWait(
  trx: Executor,
  row: RunRow,
  fields: NewApproval,
  changes: RunChanges,
  eventData: Record<string, unknown> = {},
): Promise<{ approval: Approval; row: RunRow; events: StoredEvent[] }> {
  const approval = toApproval(await insertApproval(trx, fields));
  const connectUrl = approval.kind === 'connection' ? (approval.payload as { connectUrl?: string }).connectUrl : undefined;
  const wait: RunWaitingFor = {
    kind: approval.kind,
    approvalId: approval.id,
    expiresAt: approval.expiresAt,
    onExpire: approval.onExpire,
    ...(connectUrl ? { connectUrl } : {}),
  };
  const requested = await appendEvents(trx, row, [{ type: 'approval.requested', data: approval }]);
  const moved = await transitionRun(
    trx,
    row,
    'waiting',
    { waiting_for: toJsonColumn(wait), resume: null, ...changes },
    { ...eventData, approvalId: approval.id },
  );
  await recordEvent(trx, row.application_id, 'approval.requested', approval);
  return { approval, row: moved.row, events: [...requested.stored, ...moved.events] };
}

/**
 * What a runner that kept its lease (version 2026-12-05) reads in the `running` status event, an
 * object as `resumeRun`'s input always was: an answer that is one, else the answer or the outcome
 * under a name.
 */
function legacyInputOf(approval: Approval): Record<string, unknown> {
  const answer = approval.decision?.response;
  if (answer !== null && answer !== undefined) return typeof answer === 'object' && !Array.isArray(answer) ? answer : { answer };
  return { approved: approval.status === 'approved', outcome: approval.decision?.outcome ?? 'expired' };
}

/** The payload to act on once decided: the edited one, else the one asked about. */
const payloadAfter = (approval: Approval) => approval.decision?.editedPayload ?? approval.payload;

/**
 * The end of a run's wait, once its approval is resolved: a run that waits holding no lease is
 * queued again with the resolution (its next claim resumes it); one that kept its lease (a runner
 * of version 2026-12-05 called `waitRun`) is running again at once, its runner learning it from
 * its heartbeat. Nothing happens to a run that no longer waits on this approval.
 */
async function endWait(trx: Executor, run: RunRow, approval: Approval, reason: string, legacyInput?: unknown): Promise<StoredEvent[]> {
  const waitingFor = fromJsonColumn<RunWaitingFor | null>(run.waiting_for, null);
  if (run.status !== 'waiting' || waitingFor?.approvalId !== approval.id) return [];
  if (approval.kind === 'budget') return endBudgetWait(trx, run, approval, reason);
  if (approval.kind === 'connection') {
    // Connecting ends the wait without a decision (connections/waits.ts); a decision only refuses.
    const message = `Approval ${approval.id} for a missing connection was rejected: ${approval.decision?.note ?? 'no note'}`;
    return (await transitionRun(trx, run, 'cancelled', { error_code: 'connection_missing', error_message: message }, { approvalId: approval.id, reason }))
      .events;
  }
  const resume: StoredResumption = {
    approvalId: approval.id,
    kind: approval.kind,
    status: approval.status as StoredResumption['status'],
    decision: approval.decision,
    payload: payloadAfter(approval),
  };
  const data = { approvalId: approval.id, reason };
  let moved: { row: RunRow; events: StoredEvent[] };
  if (run.lease_expires_at) {
    const input = legacyInput ?? legacyInputOf(approval);
    moved = await transitionRun(trx, run, 'running', { resume: toJsonColumn(resume), waiting_for: null }, { ...data, input });
  } else {
    moved = await transitionRun(trx, run, 'queued', { resume: toJsonColumn(resume), waiting_for: null, ...queuedAgain(run) }, data);
  }
  await recordEvent(trx, run.application_id, 'run.resumed', toRun(moved.row));
  return moved.events;
}

/**
 * The end of a wait for a budget's room, decided by a person: approved, the run is let past every
 * budget without room for it and queued to start (it never ran: nothing to resume); rejected, it
 * is cancelled.
 */
async function endBudgetWait(trx: Executor, run: RunRow, approval: Approval, reason: string): Promise<StoredEvent[]> {
  const data = { approvalId: approval.id, reason };
  if (approval.status !== 'approved') {
    const message = `Approval ${approval.id} to run over budget was rejected: ${approval.decision?.note ?? 'no note'}`;
    return (await transitionRun(trx, run, 'cancelled', { error_code: 'budget_exceeded', error_message: message }, data)).events;
  }
  await admitRun(trx, await budgetsFor(trx, spenderOfRun(run)), run.id, true);
  return (await transitionRun(trx, run, 'queued', { resume: null, ...queuedAgain(run) }, data)).events;
}

/**
 * Resolves a pending approval and ends its run's wait, in the caller's transaction, run locked
 * first (the order every path takes: asking, deciding, expiring, a run ending). Undefined when the
 * approval was no longer pending: a concurrent resolution won.
 */
async function resolve(
  trx: Executor,
  row: ApprovalRow,
  status: ApprovalStatus,
  decision: ApprovalDecision | null,
  after: (run: RunRow, approval: Approval) => Promise<StoredEvent[]>,
): Promise<{ approval: Approval; events: StoredEvent[] } | undefined> {
  const run = await findRunRow(trx, { id: row.run_id }, true);
  const resolved = await resolveApproval(trx, row, status, decision);
  if (!resolved) return undefined;
  const approval = toApproval(resolved);
  const type = status === 'expired' ? 'approval.expired' : 'approval.decided';
  const told = await appendEvents(trx, run, [{ type, data: approval }]);
  await recordEvent(trx, run.application_id, type, approval);
  const events = await after(run, approval);
  return { approval, events: [...told.stored, ...events] };
}

const STATUS_OF: Record<ApprovalDecision['outcome'], ApprovalStatus> = {
  approve: 'approved',
  reject: 'rejected',
  request_changes: 'changes_requested',
  answer: 'answered',
};

const OUTCOMES: Record<Approval['kind'], ApprovalDecision['outcome'][]> = {
  approval: ['approve', 'reject', 'request_changes'],
  input: ['answer', 'reject'],
  budget: ['approve', 'reject'],
  connection: ['reject'],
};

type DecisionInput = components['schemas']['ApprovalDecisionCreate'];

/** What a decision must carry for its approval: its outcome allowed for the kind, a note where one is required, an edit or answer that fits. */
function checkDecision(approval: Approval, body: DecisionInput): void {
  const issues: ValidationIssue[] = [];
  if (!OUTCOMES[approval.kind].includes(body.outcome)) {
    issues.push({ pointer: '/outcome', detail: `An ${approval.kind} is decided with ${OUTCOMES[approval.kind].join(', ')}, not ${body.outcome}.` });
  }
  if ((body.outcome === 'reject' || body.outcome === 'request_changes') && !body.note?.trim()) {
    issues.push({ pointer: '/note', detail: `A note is required to ${body.outcome === 'reject' ? 'reject' : 'request changes'}: the run learns why.` });
  }
  if (body.editedPayload !== undefined) {
    if (body.outcome !== 'approve') issues.push({ pointer: '/editedPayload', detail: 'Only an approval (outcome approve) carries an edited payload.' });
    else if (!approval.payloadSchema)
      issues.push({ pointer: '/editedPayload', detail: 'This approval has no payloadSchema, so its payload cannot be edited.' });
    else {
      const compiled = compileUserSchema(approval.payloadSchema);
      issues.push(
        ...('error' in compiled
          ? [{ pointer: '/editedPayload', detail: compiled.error }]
          : schemaIssues(compiled.validate, body.editedPayload, '/editedPayload', 'editedPayload')),
      );
    }
  }
  if (body.response !== undefined && body.outcome !== 'answer') issues.push({ pointer: '/response', detail: 'Only an answer carries a response.' });
  if (body.outcome === 'answer') {
    if (body.response === undefined) issues.push({ pointer: '/response', detail: 'An answer needs its response.' });
    else if (approval.responseSchema) {
      const compiled = compileUserSchema(approval.responseSchema);
      issues.push(
        ...('error' in compiled ? [{ pointer: '/response', detail: compiled.error }] : schemaIssues(compiled.validate, body.response, '/response', 'response')),
      );
    }
  }
  if (issues.length) throw invalid(issues);
}

const resolvedAlready = (row: ApprovalRow) =>
  new ProblemError('approval-resolved', `Approval ${row.id} is ${row.status === 'pending' ? 'already decided' : row.status}; the first decision wins.`);

/** A person's (or a key's) decision; 409 approval-resolved when it is not the first. */
export async function decide(
  trx: Executor,
  row: ApprovalRow,
  body: DecisionInput,
  decidedBy: ApprovalDecision['decidedBy'],
  /** `resumeRun`'s free-form input (version 2026-12-05 and older), given to a runner that kept its lease as it was sent. */
  legacyInput?: unknown,
): Promise<{ approval: Approval; events: StoredEvent[] }> {
  if (row.status !== 'pending') throw resolvedAlready(row);
  const approval = toApproval(row);
  checkDecision(approval, body);
  const decision: ApprovalDecision = {
    outcome: body.outcome,
    note: body.note ?? null,
    editedPayload: body.editedPayload ?? null,
    response: body.response ?? null,
    decidedBy,
    decidedAt: nowIso(),
  };
  const done = await resolve(trx, row, STATUS_OF[body.outcome], decision, (run, decided) => endWait(trx, run, decided, 'approval_decided', legacyInput));
  if (!done) throw resolvedAlready(row);
  return done;
}

/**
 * An approval nobody decided in time: `expired` (never a person's decision), then its policy: the
 * run resumes as rejected (`reject`), or is cancelled or failed. Undefined when it was resolved
 * meanwhile.
 */
async function expire(trx: Executor, row: ApprovalRow) {
  return resolve(trx, row, 'expired', null, async (run, approval) => {
    const waitingFor = fromJsonColumn<RunWaitingFor | null>(run.waiting_for, null);
    if (run.status !== 'waiting' || waitingFor?.approvalId !== approval.id) return [];
    const data = { approvalId: approval.id, reason: 'approval_expired' };
    if (approval.onExpire === 'reject') return endWait(trx, run, approval, 'approval_expired');
    if (approval.onExpire === 'cancel_run') return (await transitionRun(trx, run, 'cancelled', { waiting_for: null }, data)).events;
    const message = `Nobody decided approval ${approval.id} before it expired at ${approval.expiresAt}.`;
    return (await transitionRun(trx, run, 'failed', { waiting_for: null, error_code: 'approval_expired', error_message: message }, data)).events;
  });
}

const EXPIRY_BATCH = 100;

/** One pass of the expiry sweeper: each expired approval in its own transaction, so replicas may sweep at once. */
export async function expireApprovals(db: Db): Promise<StoredEvent[]> {
  const published: StoredEvent[] = [];
  for (const id of await expiredApprovalIds(db, EXPIRY_BATCH)) {
    const events = await db.transaction(async (trx) => {
      const row = await findApprovalRow(trx, id);
      if (!row || row.status !== 'pending' || row.expires_at > nowIso()) return [];
      return (await expire(trx, row))?.events ?? [];
    });
    published.push(...events);
  }
  return published;
}
