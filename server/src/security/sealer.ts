import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseMasterKey } from '../config/master-key.js';

/**
 * Encrypts values that must be read back (webhook and trigger signing secrets) with AES-256-GCM:
 * a fresh nonce per value and the owning application's id as associated data, so a value copied
 * to another application's row does not open. New values use the current master key; values
 * sealed under previous keys still open, so keys can be rotated.
 */
export type Sealer = {
  seal(plaintext: string, applicationId: string): string;
  open(sealed: string, applicationId: string): string;
  /** The key new values are sealed with, and the previous ones that still open values, by id. */
  readonly currentKeyId: string;
  readonly previousKeyIds: readonly string[];
};

/** The id of the master key a sealed value was sealed with. */
export const sealedKeyId = (sealed: string): string | undefined => sealed.split(':')[1];

/** AES-256-GCM with a fresh nonce: base64 of nonce, tag and ciphertext; `aad` binds it to where it belongs. */
export function gcmEncrypt(key: Buffer, aad: string, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64');
}

/** The plaintext of `gcmEncrypt`'s output; throws unless the key and `aad` are the ones it was made with. */
export function gcmDecrypt(key: Buffer, aad: string, encrypted: string): string {
  const raw = Buffer.from(encrypted, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}

const keyId = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 8);

export function createSealer(current: Buffer, previous: Buffer[] = []): Sealer {
  const keys = new Map([current, ...previous].map((k) => [keyId(k), k]));
  const currentId = keyId(current);
  return {
    currentKeyId: currentId,
    previousKeyIds: [...new Set(previous.map(keyId))].filter((id) => id !== currentId),
    seal(plaintext, applicationId) {
      return `v1:${currentId}:${gcmEncrypt(current, applicationId, plaintext)}`;
    },
    open(sealed, applicationId) {
      const [version, id, payload] = sealed.split(':');
      const key = id ? keys.get(id) : undefined;
      if (version !== 'v1' || !key || !payload) throw new Error(`Cannot open a value sealed with master key ${id ?? '?'}: it is not configured.`);
      return gcmDecrypt(key, applicationId, payload);
    },
  };
}

/**
 * The embedded default keeps its master key next to its database (created on first start, mode
 * 0600), so a single machine needs no setup; replicas must share one key through configuration.
 */
export function localMasterKey(databaseFile: string): Buffer {
  const dir = databaseFile === ':memory:' ? undefined : dirname(databaseFile);
  if (!dir) return randomBytes(32);
  const file = join(dir, 'master.key');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  const key = parseMasterKey(readFileSync(file, 'utf8'));
  if (!key) throw new Error(`${file} does not hold a base64-encoded 32-byte key.`);
  return key;
}
