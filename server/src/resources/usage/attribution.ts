import type { AuthContext } from '../../auth/identity.js';
import { modelAllowedForKey } from '../../auth/model-allow-list.js';
import type { RunTokenIdentity } from '../../auth/run-token.js';
import type { Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import { getVersion } from '../agents/store.js';
import type { Attribution } from './store.js';

/** What authenticated a gateway call: a key or a person (acting for `auth.endUserId`, when set), or a run token (then `run` names the run). */
export type GatewayCaller = { auth: AuthContext; run?: RunTokenIdentity };

/**
 * Who a gateway call is attributed to: the application and key, with the end-user the caller acts
 * for; or the run, with its agent version and its own end-user. A run's attribution comes from its
 * token alone, never from a header: a run token with `Switchboard-User` is refused (authorise step).
 */
export function attributionOf({ auth, run }: GatewayCaller): Attribution {
  return {
    applicationId: auth.applicationId,
    keyId: auth.keyId,
    runId: run?.runId ?? null,
    agentId: run?.agentId ?? null,
    agentVersion: run?.agentVersion ?? null,
    endUserId: run ? run.endUserId : (auth.endUserId ?? null),
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
