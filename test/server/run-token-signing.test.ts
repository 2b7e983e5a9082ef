import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createRunTokens } from '@switchboard/server';

// Minting and reading run tokens alone, without a server or a database: the signature, the
// expiry it carries, and master-key rotation. run-tokens.test.ts checks them through the server.
const lease = {
  runId: 'run_01jd5a2b3c4d5e6f7g8h9j0k1m',
  leaseId: 'lease_01jd5a2f3g4h5j6k7m8n9p0q1r',
  fencingToken: 3,
  claimedAt: '2031-04-01T12:00:00.000Z',
  deadlineAt: '2031-04-01T12:10:00.000Z',
};
const claimsOf = (l: typeof lease, expiresAt: string) => ({
  runId: l.runId,
  leaseId: l.leaseId,
  fencingToken: l.fencingToken,
  expiresAtMs: Date.parse(expiresAt),
});

describe('run token signing', () => {
  it('reads back what it minted, expiring at the deadline', () => {
    const tokens = createRunTokens(randomBytes(32));
    const minted = tokens.mint(lease);
    expect(minted.expiresAt).toBe(lease.deadlineAt);
    expect(minted.token).toMatch(/^sbrt_[A-Za-z0-9_-]{16,200}\.[A-Za-z0-9_-]{43}$/);
    expect(tokens.read(minted.token)).toEqual(claimsOf(lease, lease.deadlineAt));
  });

  it('never lives longer than a day, whatever the deadline', () => {
    const minted = createRunTokens(randomBytes(32)).mint({ ...lease, deadlineAt: '2031-04-09T12:00:00.000Z' });
    expect(minted.expiresAt).toBe('2031-04-02T12:00:00.000Z');
  });

  it('a server with the same master key reads it; another master key does not', () => {
    const key = randomBytes(32);
    const { token } = createRunTokens(key).mint(lease);
    expect(createRunTokens(Buffer.from(key)).read(token)?.runId).toBe(lease.runId);
    expect(createRunTokens(randomBytes(32)).read(token)).toBeUndefined();
  });

  it('after a rotation, tokens of the previous key still read, new ones are signed with the new key', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const before = createRunTokens(oldKey).mint(lease).token;
    const rotated = createRunTokens(newKey, [oldKey]);
    expect(rotated.read(before)).toEqual(claimsOf(lease, lease.deadlineAt));
    const after = rotated.mint({ ...lease, fencingToken: 4 }).token;
    expect(rotated.read(after)?.fencingToken).toBe(4);
    expect(createRunTokens(newKey).read(after)?.fencingToken).toBe(4);
    expect(createRunTokens(oldKey).read(after)).toBeUndefined();
    // Once the old key is dropped from the configuration, its tokens stop reading.
    expect(createRunTokens(newKey).read(before)).toBeUndefined();
  });

  it('refuses any change to the payload or the signature, and anything shaped otherwise', () => {
    const key = randomBytes(32);
    const tokens = createRunTokens(key);
    const { token } = tokens.mint(lease);
    const [signed, mac] = token.split('.') as [string, string];
    const payload = (text: string) => `sbrt_${Buffer.from(text).toString('base64url')}`;
    const otherFencing = payload(`${lease.runId}.${lease.leaseId}.4.${Date.parse(lease.deadlineAt)}`);
    const laterExpiry = payload(`${lease.runId}.${lease.leaseId}.3.${Date.parse(lease.deadlineAt) + 3_600_000}`);
    for (const forged of [
      `${otherFencing}.${mac}`,
      `${laterExpiry}.${mac}`,
      // Every character of the signature matters, the last one included (no other spelling of it verifies).
      ...[0, 21, 42].map((i) => `${signed}.${mac.slice(0, i)}${mac[i] === 'A' ? 'B' : 'A'}${mac.slice(i + 1)}`),
      ...[0, 21, 42].map((i) => `${signed}.${mac.slice(0, i)}${mac[i] === 'A' ? 'Q' : 'A'}${mac.slice(i + 1)}`),
      token.slice(0, -1),
      `${token}A`,
      signed,
      `${signed}.`,
      `sbk_${token.slice(5)}`,
      ` ${token}`,
      '',
    ]) {
      expect(tokens.read(forged), forged).toBeUndefined();
    }
  });

  it('signs with a key derived for this purpose, not with the master key itself', () => {
    const key = randomBytes(32);
    const { token } = createRunTokens(key).mint(lease);
    const signed = token.slice(0, token.lastIndexOf('.'));
    expect(token.slice(signed.length + 1)).not.toBe(createHmac('sha256', key).update(signed).digest('base64url'));
  });
});
