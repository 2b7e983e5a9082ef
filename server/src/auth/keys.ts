import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

export const APPLICATION_KEY_PREFIX = 'sbk_';

/** 32 random bytes after the prefix: `sbk_` + 43 base64url characters. */
export const generateSecret = (prefix: string) => prefix + randomBytes(32).toString('base64url');
export const generateApplicationKey = () => generateSecret(APPLICATION_KEY_PREFIX);

/** A Standard Webhooks signing secret: `whsec_` + 32 random bytes in standard base64, as the spec has it. */
export const generateWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

export const hashSecret = (secret: string) => hash('sha256', secret, 'hex');

/** What the API shows of a key after creation: enough to recognise it, nothing to use. */
export const displayPrefix = (secret: string) => secret.slice(0, 12);

export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}
