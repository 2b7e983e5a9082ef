import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { personOf, type AuthContext, type UserContext } from '../../auth/identity.js';
import { afterCommit } from '../../db/after-commit.js';
import type { Db, Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import type { AuditChainer } from '../../resources/audit/chainer.js';
import { insertAuditEvent, type AuditActor, type AuditRequest } from '../../resources/audit/store.js';
import type { AuditFacts, AuditTrail } from '../../resources/audit/trail.js';
import type { OperationSpec } from '../../spec/operations.js';
import type { Caller } from './authenticate.js';

export type Auditing = { chainer: AuditChainer; refusals: RefusalLimiter };

const camel = (snake: string) => snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const idOf = (value: unknown): string | undefined => {
  const id = (value as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'string' ? id : undefined;
};
const field = (value: unknown, name: string): string | undefined => {
  const v = (value as Record<string, unknown> | null | undefined)?.[name];
  return typeof v === 'string' ? v : undefined;
};

/** Printable, at most 512 characters: a header is the caller's to write. */
const cleanUserAgent = (ua: string) => ua.replace(/\p{Cc}/gu, '').slice(0, 512) || null;

function requestFacts(ctx: Context, op: OperationSpec): AuditRequest {
  return {
    id: ctx.state.requestId as string,
    operationId: op.operationId,
    method: ctx.method,
    path: ctx.path.slice(0, 2048),
    idempotencyKey: (op.idempotent && ctx.get('idempotency-key')) || null,
    apiVersion: (ctx.state.apiVersion as string | undefined) ?? null,
    ip: ctx.ip || null,
    userAgent: cleanUserAgent(ctx.get('user-agent')),
  };
}

/** Who a caller is, as far as their credential says (before the organization they act in is known). */
function actorOf(caller: Caller | undefined, person?: { kind: 'personal_token' | 'session'; credentialId: string; userId: string }): AuditActor {
  if (caller?.runner) return { type: 'runner', id: caller.runner.runnerId, userId: null };
  if (caller?.run) return { type: 'run', id: caller.run.runId, userId: null };
  if (caller?.endUser) return { type: 'end_user_token', id: caller.endUser.endUserId, userId: null };
  if (caller?.key) return { type: 'api_key', id: caller.key.keyId, userId: null };
  person ??= caller?.user;
  if (person) return { type: person.kind, id: person.credentialId, userId: person.userId };
  return { type: 'anonymous', id: null, userId: null };
}

/** The organization a caller belongs to, when their credential alone says. */
function organizationOf(caller: Caller | undefined): string | undefined {
  return (
    caller?.key?.organizationId ??
    caller?.run?.organizationId ??
    caller?.endUser?.organizationId ??
    caller?.runner?.organizationId ??
    caller?.user?.token?.organizationId
  );
}

async function organizationOfApplication(db: Executor, applicationId: string): Promise<string | null> {
  const row = await db('applications').where({ id: applicationId }).first<{ organization_id: string } | undefined>('organization_id');
  return row?.organization_id ?? null;
}

export function auditTrail(
  ctx: Context,
  op: OperationSpec,
  who: { auth: AuthContext | undefined; user: UserContext | undefined; caller: Caller },
  chainer: AuditChainer,
): AuditTrail {
  const { auth, user, caller } = who;
  let before: unknown = null;
  let facts: AuditFacts = {};
  let recorded = false;
  const action = op.auditAction ?? '';
  const resourceType = action.slice(0, action.indexOf('.'));
  const applicationId = caller.runner?.applicationId ?? (auth && op.appScoped ? auth.applicationId : null);
  const person = user ?? (auth && personOf(auth));

  return {
    before(value) {
      before ??= value;
    },
    describe(more) {
      facts = { ...facts, ...more };
    },
    async record(db, after, status = 200) {
      if (recorded || !op.auditAction) return;
      recorded = true;
      const appId = facts.applicationId !== undefined ? facts.applicationId : applicationId;
      const organizationId =
        facts.organizationId !== undefined
          ? facts.organizationId
          : (auth?.organizationId ??
            field(after, 'organizationId') ??
            field(before, 'organizationId') ??
            user?.organizationId ??
            organizationOf(caller) ??
            (appId ? await organizationOfApplication(db, appId) : null));
      const path = ctx.params as Record<string, string> | undefined;
      const resourceId = facts.resourceId !== undefined ? facts.resourceId : (path?.[`${camel(resourceType)}Id`] ?? idOf(after) ?? idOf(before) ?? null);
      const runId =
        facts.runId !== undefined
          ? facts.runId
          : ((resourceType === 'run' ? resourceId : undefined) ??
            caller.run?.runId ??
            field(after, 'runId') ??
            idOf((after as { run?: unknown } | null)?.run) ??
            field(before, 'runId') ??
            null);
      await insertAuditEvent(db, {
        organizationId,
        applicationId: appId,
        action,
        outcome: 'succeeded',
        status,
        actor: facts.actor ?? actorOf(caller, person),
        endUserId: facts.endUserId !== undefined ? facts.endUserId : (auth?.endUserId ?? caller.run?.endUserId ?? null),
        resourceType,
        resourceId,
        runId,
        request: requestFacts(ctx, op),
        before,
        after,
      });
      afterCommit(db, () => chainer.nudge());
    },
  };
}

/** How many refused attempts are recorded per minute, per organization (or the installation) and caller address. */
const REFUSALS_PER_MINUTE = 60;

export type RefusalLimiter = RateLimiterAbstract;

/** Counts refusals per installation, shared by replicas through Redis when configured. */
export function createRefusalLimiter(redis: Redis | undefined, install = ''): RefusalLimiter {
  const options = { points: REFUSALS_PER_MINUTE, duration: 60, keyPrefix: `sb:audit-refusals:${install}` };
  return redis ? new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: new RateLimiterMemory(options) }) : new RateLimiterMemory(options);
}

export const isRefusal = (err: unknown): err is ProblemError => err instanceof ProblemError && (err.status === 401 || err.status === 403);

/**
 * Records an attempt refused with 401 or 403, in a transaction of its own (the change it tried
 * never happened), unless its caller's address used its share this minute. A failure to record is
 * logged: the caller still gets the refusal.
 */
export async function recordRefusal(
  ctx: Context,
  op: OperationSpec,
  caller: Caller | undefined,
  refusal: ProblemError,
  deps: { db: Db; auditing: Auditing; logger: Logger },
): Promise<void> {
  if (!op.auditAction) return;
  try {
    const organizationId = organizationOf(caller) ?? null;
    const allowed = await deps.auditing.refusals.consume(`${organizationId ?? 'installation'}:${ctx.ip}`).then(
      () => true,
      () => false,
    );
    if (!allowed) return;
    const action = op.auditAction;
    const path = ctx.params as Record<string, string> | undefined;
    const resourceType = action.slice(0, action.indexOf('.'));
    await insertAuditEvent(deps.db, {
      organizationId,
      applicationId: caller?.runner?.applicationId ?? caller?.run?.applicationId ?? caller?.endUser?.applicationId ?? caller?.key?.keyApplicationId ?? null,
      action,
      outcome: 'denied',
      status: refusal.status,
      actor: actorOf(caller),
      endUserId: caller?.endUser?.endUserId ?? caller?.run?.endUserId ?? null,
      resourceType,
      resourceId: path?.[`${camel(resourceType)}Id`] ?? null,
      runId: caller?.run?.runId ?? null,
      request: requestFacts(ctx, op),
      before: null,
      after: { problem: refusal.code, detail: refusal.message },
    });
    deps.auditing.chainer.nudge();
  } catch (err) {
    deps.logger.error({ err, operationId: op.operationId }, 'recording a refused attempt in the audit log failed');
  }
}
