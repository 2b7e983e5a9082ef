import type { Context } from 'koa';
import type { Db } from '../db/database.js';
import { ProblemError } from '../problems/problems.js';
import type { Scope } from '../spec/operations.js';
import { APPLICATION_KEY_PREFIX, hashSecret, hashesEqual } from './keys.js';
import { fromJsonColumn } from '../util/json-column.js';
import { nowMs as nowMsOf } from '../util/time.js';
import type { KeyIdentity } from './identity.js';
import type { KeyCache } from './key-cache.js';

/**
 * The credential as sent, from `Authorization: Bearer` or `X-API-Token`, and where `xApiKey` allows
 * it (the gateway's routes, as Anthropic's SDKs send it) from `x-api-key`; never logged.
 */
export function readCredential(ctx: Context, xApiKey = false): string | undefined {
  const header = ctx.get('authorization');
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return bearer[1];
  return ctx.get('x-api-token').trim() || (xApiKey ? ctx.get('x-api-key').trim() : '') || undefined;
}

/** The one refusal of a credential that is missing, malformed, forged, unknown, revoked or expired: nothing tells them apart. */
export const unauthorized = () => new ProblemError('unauthorized', 'The credential is missing, unknown, revoked or expired.');

/** How often lastUsedAt is written per key: often enough to be useful, rarely enough to stay off the hot path. */
const LAST_USED_RESOLUTION_MS = 60_000;

type KeyRow = {
  id: string;
  organization_id: string;
  application_id: string;
  scopes: string;
  allowed_models: string | null;
  api_version: string | null;
  secret_hash: string;
  previous_secret_hash: string | null;
  previous_secret_expires_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
};

/** Resolves a credential to its key. Unknown, revoked and expired keys all fail the same way. */
export async function authenticateKey(db: Db, credential: string | undefined, cache?: KeyCache): Promise<KeyIdentity> {
  if (!credential || !credential.startsWith(APPLICATION_KEY_PREFIX)) throw unauthorized();
  const hash = hashSecret(credential);
  const nowMs = nowMsOf();
  const cached = cache?.lookup(hash, nowMs);
  if (cached) return cached;
  const now = new Date(nowMs).toISOString();
  const generation = cache?.generation() ?? 0;
  const row = await db<KeyRow>('api_keys')
    .where('secret_hash', hash)
    .orWhere((q) => {
      q.where('previous_secret_hash', hash).andWhere('previous_secret_expires_at', '>', now);
    })
    .first<KeyRow | undefined>();
  if (!row) throw unauthorized();
  const current = row.secret_hash === hash;
  const stored = current ? row.secret_hash : (row.previous_secret_hash ?? '');
  if (!hashesEqual(stored, hash) || row.revoked_at || (row.expires_at && row.expires_at <= now)) throw unauthorized();

  if (!row.last_used_at || nowMs - Date.parse(row.last_used_at) > LAST_USED_RESOLUTION_MS) {
    await db('api_keys').where('id', row.id).update({ last_used_at: now });
  }

  const scopes = JSON.parse(row.scopes) as Scope[];
  const identity: KeyIdentity = {
    kind: 'application_key',
    keyId: row.id,
    organizationId: row.organization_id,
    keyApplicationId: row.application_id,
    scopes,
    allowedModels: fromJsonColumn<string[] | null>(row.allowed_models, null),
    apiVersion: row.api_version,
  };
  // Cached no longer than the key, or the previous secret it was matched by, stays valid.
  const validUntil = Math.min(row.expires_at ? Date.parse(row.expires_at) : Infinity, current ? Infinity : Date.parse(row.previous_secret_expires_at!));
  cache?.store(hash, identity, validUntil, generation, nowMs);
  return identity;
}

/**
 * The application an application-scoped request acts in: the key's own, or with X-App-Id another of
 * its organization for an admin key. Another tenant's application is "not found", never "forbidden".
 */
export async function resolveApplication(db: Db, key: KeyIdentity, appIdHeader: string | undefined): Promise<string> {
  if (!appIdHeader || appIdHeader === key.keyApplicationId) return key.keyApplicationId;
  if (!key.scopes.includes('admin')) {
    throw new ProblemError(
      'forbidden',
      'X-App-Id names another application; only a key with the admin scope may act in another application of its organization.',
    );
  }
  const app = await db('applications').where({ id: appIdHeader, organization_id: key.organizationId }).first<{ id: string } | undefined>('id');
  if (!app) throw new ProblemError('not-found', `No application with id ${appIdHeader}.`);
  return appIdHeader;
}
