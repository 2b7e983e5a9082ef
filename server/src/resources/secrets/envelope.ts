import { randomBytes } from 'node:crypto';
import { gcmDecrypt, gcmEncrypt, type Sealer } from '../../security/sealer.js';

/** Where a value belongs: bound into its ciphertext, so a value copied to another secret, version or application does not open. */
export type ValuePlace = { applicationId: string; secretId: string; version: number };

/** A value as stored: its ciphertext, and its data key sealed by the master key (re-wrapping touches only the latter). */
export type EncryptedValue = { dataKeySealed: string; valueEncrypted: string };

const aad = (place: ValuePlace) => `${place.applicationId}\n${place.secretId}\n${String(place.version)}`;

/** Encrypts a value with a fresh 32-byte data key (AES-256-GCM), which the master key then seals. */
export function encryptValue(sealer: Sealer, place: ValuePlace, value: string): EncryptedValue {
  const dataKey = randomBytes(32);
  const sealed = {
    dataKeySealed: sealer.seal(dataKey.toString('base64'), place.applicationId),
    valueEncrypted: `v1:${gcmEncrypt(dataKey, aad(place), value)}`,
  };
  dataKey.fill(0);
  return sealed;
}

export function decryptValue(sealer: Sealer, place: ValuePlace, stored: EncryptedValue): string {
  const [version, payload] = stored.valueEncrypted.split(':');
  if (version !== 'v1' || !payload) throw new Error(`Cannot decrypt version ${String(place.version)} of secret ${place.secretId}: unknown format.`);
  const dataKey = Buffer.from(sealer.open(stored.dataKeySealed, place.applicationId), 'base64');
  const value = gcmDecrypt(dataKey, aad(place), payload);
  dataKey.fill(0);
  return value;
}
