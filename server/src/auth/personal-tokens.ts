import type { Executor } from '../db/database.js';
import type { Scope } from '../spec/operations.js';
import { nowIso } from '../util/time.js';
import type { UserIdentity } from './identity.js';
import { hashSecret, hashesEqual } from './keys.js';
import { unauthorized } from './authenticate.js';
import type { Role } from './roles.js';

export const PERSONAL_TOKEN_PREFIX = 'sbp_';

/** How often a token's last use is written, unless it comes from another address. */
const LAST_USED_RESOLUTION_MS = 60_000;

type TokenRow = {
  id: string;
  user_id: string;
  organization_id: string;
  scopes: string;
  secret_hash: string;
  expires_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
  last_used_ip: string | null;
  role: string;
};

/**
 * A personal token (`sbp_...`) and the role its user holds now in its organization. It is read with
 * the membership on every request, never cached: a person removed from the organization (or
 * disabled) loses the token's access at once, on every replica.
 */
export async function authenticatePersonalToken(db: Executor, credential: string, ip: string): Promise<UserIdentity> {
  const hash = hashSecret(credential);
  const row = await db('personal_tokens')
    .join('memberships', (j) => {
      j.on('memberships.organization_id', 'personal_tokens.organization_id').andOn('memberships.user_id', 'personal_tokens.user_id');
    })
    .join('users', 'users.id', 'personal_tokens.user_id')
    .where('personal_tokens.secret_hash', hash)
    .whereNull('users.disabled_at')
    .first<TokenRow | undefined>(
      'personal_tokens.id',
      'personal_tokens.user_id',
      'personal_tokens.organization_id',
      'personal_tokens.scopes',
      'personal_tokens.secret_hash',
      'personal_tokens.expires_at',
      'personal_tokens.revoked_at',
      'personal_tokens.last_used_at',
      'personal_tokens.last_used_ip',
      'memberships.role',
    );
  const now = nowIso();
  if (!row || !hashesEqual(row.secret_hash, hash) || row.revoked_at || row.expires_at <= now) throw unauthorized();
  if (row.last_used_ip !== ip || !row.last_used_at || Date.parse(now) - Date.parse(row.last_used_at) > LAST_USED_RESOLUTION_MS) {
    await db('personal_tokens')
      .where({ id: row.id })
      .update({ last_used_at: now, last_used_ip: ip.slice(0, 64) });
  }
  return {
    kind: 'personal_token',
    userId: row.user_id,
    credentialId: row.id,
    token: { organizationId: row.organization_id, role: row.role as Role, scopes: JSON.parse(row.scopes) as Scope[] },
  };
}
