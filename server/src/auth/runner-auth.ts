import type { Db } from '../db/database.js';
import { ProblemError } from '../problems/problems.js';
import { nowIso } from '../util/time.js';
import { hashSecret, hashesEqual } from './keys.js';

export const RUNNER_TOKEN_PREFIX = 'sbr_';

/** A runner as authenticated, with the organization of its application (its API version, its audit chain). */
export type RunnerIdentity = { runnerId: string; applicationId: string; organizationId: string; labels: string[] };

type RunnerRow = { id: string; application_id: string; organization_id: string; labels: string; token_hash: string; last_seen_at: string | null };

/** How often lastSeenAt is written: runners call several times a second, the field needs no more. */
const LAST_SEEN_RESOLUTION_MS = 5_000;

/** Resolves a runner token (`sbr_...`); anything else, or an unknown token, is the same 401. */
export async function authenticateRunner(db: Db, credential: string | undefined): Promise<RunnerIdentity> {
  const unauthorized = new ProblemError('unauthorized', 'The credential is missing, unknown, revoked or expired.');
  if (!credential?.startsWith(RUNNER_TOKEN_PREFIX)) throw unauthorized;
  const hash = hashSecret(credential);
  const row = await db('runners')
    .join('applications', 'applications.id', 'runners.application_id')
    .where('runners.token_hash', hash)
    .first<RunnerRow | undefined>(
      'runners.id',
      'runners.application_id',
      'applications.organization_id',
      'runners.labels',
      'runners.token_hash',
      'runners.last_seen_at',
    );
  if (!row || !hashesEqual(row.token_hash, hash)) throw unauthorized;
  const now = nowIso();
  if (!row.last_seen_at || Date.parse(now) - Date.parse(row.last_seen_at) > LAST_SEEN_RESOLUTION_MS) {
    await db('runners').where({ id: row.id }).update({ last_seen_at: now });
  }
  return { runnerId: row.id, applicationId: row.application_id, organizationId: row.organization_id, labels: JSON.parse(row.labels) as string[] };
}
