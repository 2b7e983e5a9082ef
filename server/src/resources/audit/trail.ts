import type { Executor } from '../../db/database.js';
import type { AuditActor } from './store.js';

/** What a handler tells the audit log that the request alone does not. */
export type AuditFacts = {
  organizationId?: string | null;
  applicationId?: string | null;
  actor?: AuditActor;
  resourceId?: string | null;
  runId?: string | null;
  endUserId?: string | null;
};

/**
 * The request's audit event. The pipeline records it in the request's transaction when the
 * handler succeeds; a handler that opens its own transactions (`ownTransaction`) records it in the
 * one that makes its change. `before` is what the resource was (If-Match checks hand it over).
 */
export type AuditTrail = {
  before(value: unknown): void;
  describe(facts: AuditFacts): void;
  /** Writes the event (once: a second call does nothing), on `db`, in its transaction. */
  record(db: Executor, after: unknown, status?: number): Promise<void>;
};
