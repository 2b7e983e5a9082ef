import { createCipheriv, createDecipheriv, createHash, createHmac, hash, hkdfSync, randomFillSync } from 'node:crypto';
import type { Db, Executor } from '../db/database.js';
import { writerRows, selectRows } from '../db/statements.js';
import { isoAfter, nowIso } from '../util/time.js';
import { ProblemError } from '../problems/problems.js';

const RETENTION_MS = 24 * 60 * 60 * 1000;

export type StoredResponse = { status: number; headers: Record<string, string | string[]>; body: string };

/** A key as this request holds it: where its record is, the fingerprint of the request, and the key its response is sealed with. */
/** `scope`: whose keys these are (an application for its keys and run tokens; a person, per application or organization, for people). */
export type IdempotencyClaim = { scope: string; key: string; keyHash: string; sealKey: Buffer; fingerprint: string };

/**
 * The header's value, bare or quoted, as the claim on its record. The raw key is never stored: the
 * record is found by its hash and sealed with a key derived from it, so the stored response opens
 * only for a request that presents the key. One SHA-256 with a label and the scope derives
 * it: HKDF would add nothing for a key that is its own secret, and cost 5 to 7 % of a create-run.
 */
export function idempotencyClaim(scope: string, header: string, fingerprint: string): IdempotencyClaim {
  const key = header.replace(/^"(.*)"$/, '$1');
  const sealKey = hash('sha256', `switchboard idempotent response\n${scope}\n${key}`, 'buffer');
  return {
    scope,
    key,
    keyHash: hash('sha256', key, 'hex'),
    sealKey,
    // Keyed by the key the record is sealed with: a body that holds a secret's value cannot be
    // guessed back from its stored fingerprint by whoever reads the table.
    fingerprint: createHmac('sha256', sealKey).update(fingerprint).digest('hex'),
  };
}

export const fingerprint = (method: string, path: string, raw: Buffer | undefined) =>
  createHash('sha256')
    .update(`${method} ${path}\n`)
    .update(raw ?? Buffer.alloc(0))
    .digest('hex');

/**
 * Records sealed with the key of `idempotencyClaim` say so; those without the prefix were sealed by
 * earlier releases (kept 24 hours). Those releases cannot open a prefixed record: while replicas of
 * both run side by side, a retry that reaches an older one after a newer one answered fails there.
 */
const SEALED_V2 = 'v2:';

/** The key earlier releases sealed with, for records they wrote. */
const hkdfSealKey = (claim: IdempotencyClaim) => Buffer.from(hkdfSync('sha256', claim.key, claim.scope, 'switchboard idempotent response', 32));

// Nonces are drawn from the system's generator in blocks: one call per 256 responses, not one each.
const NONCE_BYTES = 12;
const nonces = Buffer.alloc(NONCE_BYTES * 256);
let nextNonce = nonces.length;

function nonce(): Buffer {
  if (nextNonce === nonces.length) {
    randomFillSync(nonces);
    nextNonce = 0;
  }
  nextNonce += NONCE_BYTES;
  return nonces.subarray(nextNonce - NONCE_BYTES, nextNonce);
}

function seal(key: Buffer, response: StoredResponse): string {
  const iv = nonce();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const sealed = Buffer.concat([cipher.update(JSON.stringify(response), 'utf8'), cipher.final()]);
  return SEALED_V2 + Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64');
}

function unseal(claim: IdempotencyClaim, text: string): StoredResponse {
  const current = text.startsWith(SEALED_V2);
  const data = Buffer.from(current ? text.slice(SEALED_V2.length) : text, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', current ? claim.sealKey : hkdfSealKey(claim), data.subarray(0, 12));
  decipher.setAuthTag(data.subarray(12, 28));
  return JSON.parse(Buffer.concat([decipher.update(data.subarray(28)), decipher.final()]).toString('utf8')) as StoredResponse;
}

type Row = { fingerprint: string; state: 'in_flight' | 'done'; response_sealed: string | null; locked_until: string | null; expires_at: string };

const record = (claim: IdempotencyClaim) => ({ scope: claim.scope, key_hash: claim.keyHash });

/** Thrown inside a request's transaction when another request with its key committed first. */
export class IdempotencyRace extends Error {}

/**
 * The response to an earlier request with this key, to replay; undefined when the key is free.
 * 422 when the key was used for another method, path or body. Runs in the request's transaction.
 */
export async function storedResponse(db: Executor, claim: IdempotencyClaim): Promise<StoredResponse | undefined> {
  const [row] = await selectRows<Row>(
    db,
    'select fingerprint, state, response_sealed, locked_until, expires_at from idempotency_keys where scope = ? and key_hash = ?',
    [claim.scope, claim.keyHash],
  );
  if (!row) return undefined;
  const now = nowIso();
  if (row.expires_at <= now) {
    await db('idempotency_keys')
      .where({ ...record(claim), expires_at: row.expires_at })
      .delete();
    return undefined;
  }
  if (row.fingerprint !== claim.fingerprint) {
    throw new ProblemError('idempotency-key-reused', 'This Idempotency-Key was already used for a request with another method, path or body.');
  }
  if (row.state === 'done') return unseal(claim, row.response_sealed!);
  // Held by a server of an earlier release, which recorded in-flight requests before their response.
  if (row.locked_until && row.locked_until > now) {
    throw new ProblemError('idempotency-in-flight', 'A request with this Idempotency-Key is still being processed; retry shortly.');
  }
  await db('idempotency_keys')
    .where({ ...record(claim), locked_until: row.locked_until })
    .delete();
  return undefined;
}

/**
 * Records the response in the request's own transaction, so it commits with the write it guards.
 * When a concurrent request with the same key committed first (PostgreSQL waits for it here, SQLite
 * runs one transaction at a time), this one throws `IdempotencyRace`: its writes roll back and it
 * answers with the stored response instead.
 */
export async function storeResponse(trx: Executor, claim: IdempotencyClaim, response: StoredResponse): Promise<void> {
  const inserted = await writerRows(
    trx,
    `insert into idempotency_keys (scope, key_hash, fingerprint, state, response_status, response_sealed, expires_at, created_at)
     values (?, ?, ?, 'done', ?, ?, ?, ?) on conflict (scope, key_hash) do nothing returning key_hash`,
    [claim.scope, claim.keyHash, claim.fingerprint, response.status, seal(claim.sealKey, response), isoAfter(RETENTION_MS), nowIso()],
  );
  if (inserted.length !== 1) throw new IdempotencyRace();
}

export async function purgeExpiredIdempotencyKeys(db: Db): Promise<number> {
  return db('idempotency_keys').where('expires_at', '<=', nowIso()).delete();
}
