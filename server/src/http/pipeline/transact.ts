import type { Context } from 'koa';
import type { AuthContext } from '../../auth/identity.js';
import { runCommitTasks, type CommitTask } from '../../db/after-commit.js';
import type { Db, Executor } from '../../db/database.js';
import { requestTransactions, type Transact } from '../../db/group-commit.js';
import type { OperationSpec } from '../../spec/operations.js';
import { assertIfMatch } from '../../resources/etag.js';
import { managesOwnTransaction, type Handler, type HandlerInput, type OperationId } from '../../resources/handler-types.js';
import { isWrite } from './authorise.js';
import type { UserContext } from '../../auth/identity.js';
import type { Caller } from './authenticate.js';
import type { ValidRequest } from './validate.js';
import type { AuditTrail } from '../../resources/audit/trail.js';

/** The request transactions an operation's handler runs in: writes have one, unless the handler opens its own; reads have none. */
export const transactionsFor = (op: OperationSpec, handler: Handler<OperationId>, db: Db): Transact | undefined =>
  isWrite(op) && !managesOwnTransaction(handler) ? requestTransactions(db) : undefined;

/** What the handler gets: the validated request, who calls, and where its writes go (the request's transaction, or the pool). */
export function handlerInput(
  ctx: Context,
  request: ValidRequest,
  who: { auth: AuthContext | undefined; user: UserContext | undefined },
  caller: Caller,
  executor: Executor,
  tasks: CommitTask[],
  audit: AuditTrail,
  apiVersion: string,
): HandlerInput<OperationId> {
  return {
    path: request.path as never,
    query: request.query,
    headers: request.headers,
    body: request.body as never,
    rawBody: request.raw,
    auth: who.auth as AuthContext,
    user: who.user,
    runner: caller.runner,
    run: caller.run,
    db: executor,
    requestId: ctx.state.requestId as string,
    apiVersion,
    ctx,
    checkIfMatch: (current) => {
      audit.before(current);
      assertIfMatch(ctx.get('if-match') || undefined, current);
    },
    audit,
    afterCommit: (task) => void tasks.push(task),
  };
}

/**
 * Runs `work` in a request transaction when the operation has them, else on the pool; then, once its
 * writes are committed, the tasks it left (`tasks`: the handler's and those added on its transaction).
 * Handlers return what succeeded and throw what failed: a failure rolls back, and leaves no tasks.
 * The change is committed before the tasks run: a task that fails is reported, never thrown.
 */
export async function transact<T>(
  transactions: Transact | undefined,
  db: Db,
  work: (executor: Executor) => Promise<T>,
  tasks: CommitTask[],
  report: (err: unknown) => void,
): Promise<T> {
  const value = transactions ? await transactions(work, tasks) : await work(db);
  if (tasks.length) await runCommitTasks(tasks, report);
  return value;
}
