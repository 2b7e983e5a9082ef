import type { Db } from '../db/database.js';
import { ProblemError } from '../problems/problems.js';
import { nowIso, nowMs } from '../util/time.js';
import { unauthorized } from './authenticate.js';
import { tokenSigner } from './signed-tokens.js';

export const RUN_TOKEN_PREFIX = 'sbrt_';

/** Who calls with a run token: the run and the lease the token was minted for, and what the run executes for whom. */
export type RunTokenIdentity = {
  runId: string;
  leaseId: string;
  fencingToken: number;
  runnerId: string;
  applicationId: string;
  organizationId: string;
  agentId: string;
  agentVersion: number;
  endUserId: string | null;
};

/** What a token names. Only a server holding the master key can have written it. */
export type RunTokenClaims = { runId: string; leaseId: string; fencingToken: number; expiresAtMs: number };

export type MintedRunToken = { token: string; expiresAt: string };

export type RunTokens = {
  /** A token for a lease just created by a claim; it expires at the run's deadline. */
  mint(lease: { runId: string; leaseId: string; fencingToken: number; claimedAt: string; deadlineAt: string }): MintedRunToken;
  /** The claims of a token this server (or a replica with the same master key) minted; undefined for anything else. */
  read(token: string): RunTokenClaims | undefined;
};

/** The HKDF info: a key for this purpose only, so a MAC made here means nothing to any other use of the master key. */
const PURPOSE = 'switchboard run token v1';
/** The longest a token lives, whatever the deadline says: the largest `timeoutSeconds` an agent may have. */
const MAX_LIFETIME_MS = 86_400_000;
const SHAPE = /^sbrt_[A-Za-z0-9_-]{16,200}\.[A-Za-z0-9_-]{43}$/;

/** Run tokens: `sbrt_` + base64url of `runId.leaseId.fencingToken.expiresAtMs`, signed (see signed-tokens.ts). */
export function createRunTokens(current: Buffer, previous: Buffer[] = []): RunTokens {
  const signer = tokenSigner(RUN_TOKEN_PREFIX, PURPOSE, SHAPE, current, previous);
  return {
    mint({ runId, leaseId, fencingToken, claimedAt, deadlineAt }) {
      const expiresAtMs = Math.min(Date.parse(deadlineAt), Date.parse(claimedAt) + MAX_LIFETIME_MS);
      return { token: signer.sign(`${runId}.${leaseId}.${fencingToken}.${expiresAtMs}`), expiresAt: new Date(expiresAtMs).toISOString() };
    },
    read(token) {
      const content = signer.open(token);
      if (content === undefined) return undefined;
      const [runId, leaseId, fencingToken, expiresAtMs] = content.split('.');
      return { runId: runId!, leaseId: leaseId!, fencingToken: Number(fencingToken), expiresAtMs: Number(expiresAtMs) };
    },
  };
}

const leaseEnded = () =>
  new ProblemError(
    'unauthorized',
    "The run token's lease has ended: the run finished, was re-queued or claimed again, or its lease expired. A run token works only while the lease it came with is held.",
  );

type RunLeaseRow = {
  application_id: string;
  organization_id: string;
  agent_id: string;
  agent_version: number;
  end_user_id: string | null;
  status: string;
  lease_id: string | null;
  lease_runner_id: string | null;
  lease_expires_at: string | null;
  fencing_token: number | string;
};

/**
 * Resolves a run token to its run. A malformed or forged token is refused like an unknown key; a
 * genuine one whose lease is no longer the run's current, unexpired lease of a `running` run (or
 * that is past its own expiry) is refused saying the lease has ended. The run row is read on every
 * call: the token dies with its lease, at once, on every replica.
 */
export async function authenticateRunToken(
  db: Db,
  tokens: RunTokens,
  credential: string | undefined,
  /** Also a run that began, under this very lease, to wait on a person: its own request may be retried (and replayed). */
  options: { waiting?: boolean } = {},
): Promise<RunTokenIdentity> {
  const claims = credential ? tokens.read(credential) : undefined;
  if (!claims) throw unauthorized();
  if (claims.expiresAtMs <= nowMs()) throw leaseEnded();
  const row = await db('runs')
    .join('applications', 'applications.id', 'runs.application_id')
    .where('runs.id', claims.runId)
    .first<RunLeaseRow | undefined>(
      'runs.application_id',
      'applications.organization_id',
      'runs.agent_id',
      'runs.agent_version',
      'runs.end_user_id',
      'runs.status',
      'runs.lease_id',
      'runs.lease_runner_id',
      'runs.lease_expires_at',
      'runs.fencing_token',
    );
  const same = row !== undefined && row.lease_id === claims.leaseId && Number(row.fencing_token) === claims.fencingToken;
  const held =
    same &&
    ((row.status === 'running' && row.lease_expires_at !== null && row.lease_expires_at > nowIso()) ||
      (options.waiting === true && row.status === 'waiting' && row.lease_expires_at === null));
  if (!held) throw leaseEnded();
  return {
    runId: claims.runId,
    leaseId: claims.leaseId,
    fencingToken: claims.fencingToken,
    runnerId: row.lease_runner_id!,
    applicationId: row.application_id,
    organizationId: row.organization_id,
    agentId: row.agent_id,
    agentVersion: row.agent_version,
    endUserId: row.end_user_id,
  };
}
