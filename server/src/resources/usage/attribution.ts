import { personOf, type AuthContext } from '../../auth/identity.js';
import { modelAllowedForKey } from '../../auth/model-allow-list.js';
import type { RunTokenIdentity } from '../../auth/run-token.js';
import type { Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import { getVersion } from '../agents/store.js';
import type { Attribution } from './store.js';

/** The attribution of usage made outside any run: only the application and the caller. */
export const outsideRuns = (applicationId: string, caller: { keyId: string | null; userId: string | null; endUserId: string | null }): Attribution => ({
  applicationId,
  keyId: caller.keyId,
  userId: caller.userId,
  endUserId: caller.endUserId,
  runId: null,
  agentId: null,
  agentVersion: null,
  threadId: null,
  taskId: null,
  projectId: null,
  goalId: null,
});

type RunContext = {
  thread_id: string | null;
  triggered_by_type: string;
  triggered_by_id: string | null;
  created_by_key_id: string | null;
  created_by_user_id: string | null;
  project_id: string | null;
  goal_id: string | null;
};

/**
 * A run's usage is attributed to the run, its agent version and end-user (from its token), its
 * thread, the task that started it (with the task's project and goal as they are now), and the key
 * or person that started it.
 */
export async function runAttribution(
  db: Executor,
  run: Pick<RunTokenIdentity, 'runId' | 'applicationId' | 'agentId' | 'agentVersion' | 'endUserId'>,
): Promise<Attribution> {
  const context = await db('runs')
    .leftJoin('tasks', function () {
      this.on('tasks.id', '=', 'runs.triggered_by_id').andOnVal('runs.triggered_by_type', '=', 'task');
    })
    .where('runs.id', run.runId)
    .first<RunContext | undefined>(
      'runs.thread_id',
      'runs.triggered_by_type',
      'runs.triggered_by_id',
      'runs.created_by_key_id',
      'runs.created_by_user_id',
      'tasks.project_id',
      'tasks.goal_id',
    );
  return {
    applicationId: run.applicationId,
    keyId: context?.created_by_key_id ?? null,
    userId: context?.created_by_user_id ?? null,
    endUserId: run.endUserId,
    runId: run.runId,
    agentId: run.agentId,
    agentVersion: run.agentVersion,
    threadId: context?.thread_id ?? null,
    taskId: context?.triggered_by_type === 'task' ? context.triggered_by_id : null,
    projectId: context?.project_id ?? null,
    goalId: context?.goal_id ?? null,
  };
}

/** What authenticated a gateway call: a key or a person (acting for `auth.endUserId`, when set), or a run token (then `run` names the run). */
export type GatewayCaller = { auth: AuthContext; run?: RunTokenIdentity };

/**
 * Who a gateway call is attributed to: the application and key, with the end-user the caller acts
 * for; or the run, with its agent version and its own end-user. A run's attribution comes from its
 * token alone, never from a header: a run token with `Switchboard-User` is refused (authorise step).
 */
export async function attributionOf(db: Executor, { auth, run }: GatewayCaller): Promise<Attribution> {
  if (run) return runAttribution(db, run);
  return outsideRuns(auth.applicationId, { keyId: auth.keyId, userId: personOf(auth)?.userId ?? null, endUserId: auth.endUserId ?? null });
}

/**
 * 403 unless the caller may call `alias`: a key, the aliases of its `allowedModels` (all when
 * null); a run, its agent version's model (whose fallbacks the gateway follows by itself).
 */
export async function assertModelAllowed(db: Executor, { auth, run }: GatewayCaller, alias: string): Promise<void> {
  if (run) {
    const { model } = await getVersion(db, run.agentId, run.agentVersion);
    if (model !== alias) throw new ProblemError('forbidden', `Run ${run.runId} may call only its agent's model "${model}", not "${alias}".`);
    return;
  }
  if (auth.kind === 'application_key' && !modelAllowedForKey(auth.allowedModels, alias)) {
    throw new ProblemError('forbidden', `This API key may not call the model alias "${alias}" (see its allowedModels).`);
  }
}
