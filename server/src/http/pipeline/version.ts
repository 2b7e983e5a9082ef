import type { Context } from 'koa';
import { membershipOf } from '../../auth/memberships.js';
import type { Db } from '../../db/database.js';
import type { ProblemError } from '../../problems/problems.js';
import type { OperationSpec } from '../../spec/operations.js';
import type { OrganizationPins } from '../../versions/pins.js';
import type { Versioning } from '../../versions/versioning.js';
import type { Caller } from './authenticate.js';

export type VersionDeps = { db: Db; versioning: Versioning; pins: OrganizationPins };

/** The version a response is said to be in, and what a deprecated one adds (Deprecation, Sunset, Link). */
export function echoVersion(ctx: Context, versioning: Versioning, version: string): void {
  ctx.set('Switchboard-Version', version);
  ctx.set(versioning.deprecationHeaders(version));
}

/** What Switchboard-Version asks for: a version, or the refusal of a malformed or unserved one (400, thrown once the credential is checked). */
export type AskedVersion = { version?: string; refusal?: ProblemError };

/** Switchboard-Version, read first: a bad one is answered 400, never silently replaced by another version. */
export function askedVersion(ctx: Context, op: OperationSpec, versioning: Versioning): AskedVersion {
  const header = op.versioned ? ctx.get('switchboard-version').trim() : '';
  if (!header) return {};
  try {
    return { version: versioning.check(header, 'Switchboard-Version') };
  } catch (refusal) {
    return { refusal: refusal as ProblemError };
  }
}

/** The organization a caller acts in, as far as it can be told before the request is validated. */
async function organizationOf(ctx: Context, caller: Caller, db: Db): Promise<string | undefined> {
  const known = caller.key?.organizationId ?? caller.runner?.organizationId ?? caller.endUser?.organizationId ?? caller.run?.organizationId;
  if (known || !caller.user) return known;
  // A session's organization (X-Org-Id, or its user's only one): refusals are the authorise step's to give.
  const membership = await membershipOf(db, caller.user, ctx.get('x-org-id') || undefined, false).catch(() => undefined);
  return membership?.organizationId;
}

/**
 * The version a request speaks: Switchboard-Version, else its key's pin, else its organization's,
 * else the newest. A pin to a version no longer served is 400 like the header: the caller must
 * move it, not be answered in another version than the one it expects.
 */
export async function resolveVersion(ctx: Context, op: OperationSpec, caller: Caller, requested: string | undefined, deps: VersionDeps): Promise<string> {
  const { versioning } = deps;
  if (!op.versioned) return versioning.newest;
  if (requested) return requested;
  if (caller.key?.apiVersion) return versioning.check(caller.key.apiVersion, "The API key's pinned version");
  const organizationId = await organizationOf(ctx, caller, deps.db);
  const pin = organizationId && (await deps.pins.of(deps.db, organizationId));
  return pin ? versioning.check(pin, "The organization's pinned version") : versioning.newest;
}
