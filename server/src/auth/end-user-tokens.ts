import type { Executor } from '../db/database.js';
import { nowMs } from '../util/time.js';
import { unauthorized } from './authenticate.js';
import { tokenSigner } from './signed-tokens.js';

export const END_USER_TOKEN_PREFIX = 'sbe_';

/** An end-user token as authenticated: the end-user and where they belong. */
export type EndUserIdentity = { endUserId: string; applicationId: string; organizationId: string };

export type EndUserTokens = {
  mint(endUser: { endUserId: string; applicationId: string }, ttlSeconds: number): { token: string; expiresAt: string };
  /** The claims of a token a server with the same master key minted; undefined for anything else. */
  read(token: string): { endUserId: string; applicationId: string; expiresAtMs: number } | undefined;
};

/** The HKDF info: a key for this purpose alone, so a MAC made here means nothing to any other use of the master key. */
const PURPOSE = 'switchboard end-user token v1';
const SHAPE = /^sbe_[A-Za-z0-9_-]{20,400}\.[A-Za-z0-9_-]{43}$/;

/**
 * End-user tokens: `sbe_` + base64url of `endUserId.applicationId.expiresAtMs`, signed (see
 * signed-tokens.ts). Nothing is stored: a token lives an hour at most, and dies with its end-user
 * (checked on every use).
 */
export function createEndUserTokens(current: Buffer, previous: Buffer[] = []): EndUserTokens {
  const signer = tokenSigner(END_USER_TOKEN_PREFIX, PURPOSE, SHAPE, current, previous);
  return {
    mint({ endUserId, applicationId }, ttlSeconds) {
      const expiresAtMs = nowMs() + ttlSeconds * 1000;
      return { token: signer.sign(`${endUserId}.${applicationId}.${expiresAtMs}`), expiresAt: new Date(expiresAtMs).toISOString() };
    },
    read(token) {
      const content = signer.open(token);
      if (content === undefined) return undefined;
      const [endUserId, applicationId, expiresAtMs] = content.split('.');
      return { endUserId: endUserId!, applicationId: applicationId!, expiresAtMs: Number(expiresAtMs) };
    },
  };
}

/** A live token of an end-user that still exists; anything else is the one 401 of unknown credentials. */
export async function authenticateEndUserToken(db: Executor, tokens: EndUserTokens, credential: string): Promise<EndUserIdentity> {
  const claims = tokens.read(credential);
  if (!claims || claims.expiresAtMs <= nowMs()) throw unauthorized();
  const row = await db('end_users')
    .join('applications', 'applications.id', 'end_users.application_id')
    .where({ 'end_users.id': claims.endUserId, 'end_users.application_id': claims.applicationId })
    .first<{ organization_id: string } | undefined>('applications.organization_id');
  if (!row) throw unauthorized();
  return { endUserId: claims.endUserId, applicationId: claims.applicationId, organizationId: row.organization_id };
}
