import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** Seals and opens tokens whose content is readable but unforgeable: `prefix` + base64url(content) + `.` + MAC. */
export type TokenSigner = {
  sign(content: string): string;
  /** The content of a token signed here (or under a previous master key); undefined for anything else. */
  open(token: string): string | undefined;
};

/**
 * Tokens the server checks without storing them: the base64url HMAC-SHA256 of everything before the
 * dot, keyed by HKDF of the master key with `purpose` (a MAC made for one kind of token means
 * nothing to another). New tokens are signed under the current key; tokens signed under previous
 * keys still verify, so the master key can be rotated. The MAC is compared as its canonical text,
 * so no other spelling of it verifies.
 */
export function tokenSigner(prefix: string, purpose: string, shape: RegExp, current: Buffer, previous: Buffer[] = []): TokenSigner {
  const derive = (masterKey: Buffer) => Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), purpose, 32));
  const macOf = (key: Buffer, signed: string) => Buffer.from(createHmac('sha256', key).update(signed).digest('base64url'));
  const signing = derive(current);
  const verifying = [current, ...previous].map(derive);
  return {
    sign(content) {
      const signed = prefix + Buffer.from(content).toString('base64url');
      return `${signed}.${macOf(signing, signed).toString()}`;
    },
    open(token) {
      if (!shape.test(token)) return undefined;
      const dot = token.lastIndexOf('.');
      const signed = token.slice(0, dot);
      const given = Buffer.from(token.slice(dot + 1));
      if (!verifying.some((key) => timingSafeEqual(macOf(key, signed), given))) return undefined;
      return Buffer.from(signed.slice(prefix.length), 'base64url').toString();
    },
  };
}
