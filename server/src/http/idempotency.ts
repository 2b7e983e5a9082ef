import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { Db, Executor } from '../db/database.js';
import { isUniqueViolation } from '../db/database.js';
import { isoAfter, nowIso } from '../util/time.js';
import { ProblemError } from './problems.js';

const RETENTION_MS = 24 * 60 * 60 * 1000;
/** A claim older than this belongs to a request that died; the key may be taken over. */
const LOCK_MS = 60_000;

export type StoredResponse = { status: number; headers: Record<string, string>; body: string };

/** A claimed key: where its record is, the key to seal its response with, and this request's claim on it. */
export type IdempotencyClaim = { applicationId: string; keyHash: string; sealKey: Buffer; owner: string };

/** The header's value, bare or quoted, as the claim on its record. The raw key is never stored. */
export function idempotencyClaim(applicationId: string, header: string): IdempotencyClaim {
  const key = header.replace(/^"(.*)"$/, '$1');
  return {
    applicationId,
    keyHash: createHash('sha256').update(key).digest('hex'),
    sealKey: Buffer.from(hkdfSync('sha256', key, applicationId, 'switchboard idempotent response', 32)),
    owner: randomBytes(16).toString('hex'),
  };
}

export const fingerprint = (method: string, path: string, raw: Buffer | undefined) =>
  createHash('sha256').update(`${method} ${path}\n`).update(raw ?? Buffer.alloc(0)).digest('hex');

function seal(key: Buffer, response: StoredResponse): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const sealed = Buffer.concat([cipher.update(JSON.stringify(response), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64');
}

function unseal(key: Buffer, text: string): StoredResponse {
  const data = Buffer.from(text, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
  decipher.setAuthTag(data.subarray(12, 28));
  return JSON.parse(Buffer.concat([decipher.update(data.subarray(28)), decipher.final()]).toString('utf8')) as StoredResponse;
}

type Row = { fingerprint: string; state: 'in_flight' | 'done'; response_sealed: string | null; locked_until: string | null; expires_at: string };

const record = (claim: IdempotencyClaim) => ({ application_id: claim.applicationId, key_hash: claim.keyHash });

/**
 * Claims the key for this request, or answers for it: a replay of the first response, 422 when the
 * key was used for another request, 409 while the first request is still in flight.
 */
export async function claimIdempotencyKey(db: Db, claim: IdempotencyClaim, print: string): Promise<StoredResponse | undefined> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const now = nowIso();
    try {
      await db('idempotency_keys').insert({
        ...record(claim),
        fingerprint: print,
        state: 'in_flight',
        owner: claim.owner,
        locked_until: isoAfter(LOCK_MS),
        expires_at: isoAfter(RETENTION_MS),
        created_at: now,
      });
      return undefined;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    const row = (await db('idempotency_keys').where(record(claim)).first()) as Row | undefined;
    if (!row) continue;
    if (row.expires_at <= now) {
      await db('idempotency_keys').where({ ...record(claim), expires_at: row.expires_at }).delete();
      continue;
    }
    if (row.fingerprint !== print) {
      throw new ProblemError('idempotency-key-reused', 'This Idempotency-Key was already used for a request with another method, path or body.');
    }
    if (row.state === 'done') return unseal(claim.sealKey, row.response_sealed!);
    if (row.locked_until && row.locked_until > now) {
      throw new ProblemError('idempotency-in-flight', 'A request with this Idempotency-Key is still being processed; retry shortly.');
    }
    const taken = await db('idempotency_keys')
      .where({ ...record(claim), state: 'in_flight', locked_until: row.locked_until })
      .update({ locked_until: isoAfter(LOCK_MS), owner: claim.owner });
    if (taken === 1) return undefined;
  }
  throw new ProblemError('idempotency-in-flight', 'A request with this Idempotency-Key is still being processed; retry shortly.');
}

/** Records the response in the request's own transaction, so it commits with the write it guards. */
export async function completeIdempotencyKey(trx: Executor, claim: IdempotencyClaim, response: StoredResponse): Promise<void> {
  const stored = await trx('idempotency_keys')
    .where({ ...record(claim), state: 'in_flight', owner: claim.owner })
    .update({ state: 'done', response_status: response.status, response_sealed: seal(claim.sealKey, response), locked_until: null });
  // Another request took the key over after this one outlived its lock: this one's write rolls back.
  if (stored !== 1) throw new ProblemError('idempotency-in-flight', 'This request took too long and a retry with the same Idempotency-Key took over; retry to get its result.');
}

/** Frees the key when the request failed, so the client can fix the request and retry with it. */
export async function releaseIdempotencyKey(db: Db, claim: IdempotencyClaim): Promise<void> {
  await db('idempotency_keys').where({ ...record(claim), state: 'in_flight', owner: claim.owner }).delete();
}

export async function purgeExpiredIdempotencyKeys(db: Db): Promise<number> {
  return db('idempotency_keys').where('expires_at', '<=', nowIso()).delete();
}
