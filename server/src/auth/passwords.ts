import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Passwords are hashed with scrypt (memory-hard; node:crypto, on libuv's thread pool so the event
 * loop keeps serving). 2^15 x 8 costs 32 MiB and about 60 ms a hash: a stolen table costs an
 * attacker as much per guess. The parameters are stored with each hash, so they can be raised
 * later and old hashes still verify (and are re-hashed at the next login).
 */
const PARAMETERS = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

export const PASSWORD_MIN_LENGTH = 10;

function derive(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 128 * params.N * params.r * 2 };
  return new Promise((resolve, reject) => scrypt(password.normalize('NFKC'), salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** `scrypt$N$r$p$<salt>$<key>`, base64url. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, PARAMETERS);
  return ['scrypt', PARAMETERS.N, PARAMETERS.r, PARAMETERS.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

const parse = (stored: string) => {
  const [kind, n, r, p, salt, key] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !key) return undefined;
  return { params: { N: Number(n), r: Number(r), p: Number(p) }, salt: Buffer.from(salt, 'base64url'), key: Buffer.from(key, 'base64url') };
};

/** A hash of nothing anyone knows, verified when the account does not exist, so both answers take as long. */
let decoy: Promise<string> | undefined;
const decoyHash = () => (decoy ??= hashPassword(randomBytes(32).toString('base64url')));

/** Makes the decoy at start, so that not even the first login for an unknown account takes longer than the others. */
export const prepareDecoyPassword = (): void => void decoyHash();

/** Whether the password matches; without a stored hash (no such account) it spends the same time and says no. */
export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const parsed = parse(stored ?? (await decoyHash()));
  if (!parsed) return false;
  const key = await derive(password, parsed.salt, parsed.params);
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key) && stored !== undefined;
}

/** A hash made with weaker parameters than today's, to re-hash once the password is known. */
export const needsRehash = (stored: string) => {
  const parsed = parse(stored);
  return !parsed || parsed.params.N < PARAMETERS.N || parsed.params.r < PARAMETERS.r;
};
