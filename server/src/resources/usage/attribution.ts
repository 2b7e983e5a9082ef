import type { AuthContext } from '../../auth/identity.js';
import { modelAllowedForKey } from '../../auth/model-allow-list.js';
import type { RunTokenIdentity } from '../../auth/run-token.js';
import type { Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import { getVersion } from '../agents/store.js';
import { endUserIdFor } from '../runs/end-users.js';
import type { Attribution } from './store.js';

/**
 * What authenticated a gateway call: a key, or a run token (then `run` names the run); and the
 * end-user a key's call names (its `Switchboard-User` header).
 */
export type GatewayCaller = { auth: AuthContext; run?: RunTokenIdentity; endUser?: string };

/**
 * Who a gateway call is attributed to: the application and key, with the end-user the key's
 * caller names; or the run, with its agent version and its own end-user. A run's attribution comes
 * from its token alone, never from a header: a run token with `Switchboard-User` is refused. The
 * end-user is created on first use, as `createRun` does.
 */
export async function attributionOf(db: Executor, { auth, run, endUser }: GatewayCaller): Promise<Attribution> {
  if (run && endUser !== undefined) {
    const detail = "A run's calls are attributed to the run's own end-user: Switchboard-User is not accepted with a run token.";
    throw new ProblemError('bad-request', detail, { errors: [{ parameter: 'Switchboard-User', in: 'header', detail }] });
  }
  return {
    applicationId: auth.applicationId,
    keyId: auth.keyId,
    runId: run?.runId ?? null,
    agentId: run?.agentId ?? null,
    agentVersion: run?.agentVersion ?? null,
    endUserId: run ? run.endUserId : endUser === undefined ? null : await endUserIdFor(db, auth.applicationId, endUser),
  };
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
