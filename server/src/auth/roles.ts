import type { Scope } from '../spec/operations.js';

/** A person's role in an organization (docs: "Users, members and roles" in the spec). */
export type Role = 'owner' | 'admin' | 'member' | 'viewer';
export const ROLES: readonly Role[] = ['owner', 'admin', 'member', 'viewer'];

const SCOPE_RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };
const SCOPES_BY_RANK: Scope[] = ['read', 'write', 'admin'];

/** The widest scope a role allows: viewers read, members also write, admins and owners administer. */
const ROLE_RANK: Record<Role, number> = { viewer: 1, member: 2, admin: 3, owner: 3 };

/** Scopes nest: admin allows everything write does, write everything read does. */
export const hasScope = (scopes: readonly Scope[], required: Scope): boolean => scopes.some((s) => SCOPE_RANK[s] >= SCOPE_RANK[required]);

export const roleScopes = (role: Role): Scope[] => [SCOPES_BY_RANK[ROLE_RANK[role] - 1]!];

/**
 * What a personal token may do: its own scopes intersected with its user's current role, so a
 * token never outgrows the person (a member's admin token writes; a viewer's write token reads).
 */
export function effectiveScopes(tokenScopes: readonly Scope[], role: Role): Scope[] {
  const rank = Math.min(Math.max(...tokenScopes.map((s) => SCOPE_RANK[s])), ROLE_RANK[role]);
  return [SCOPES_BY_RANK[rank - 1]!];
}
