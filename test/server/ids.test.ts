import { fromString, toUUID } from 'typeid-js';
import { describe, expect, it } from 'vitest';
import { newId } from '../../server/src/util/ids.js';

const TYPEID = /^run_[0-7][0-9a-hjkmnp-tv-z]{25}$/;

describe('ids', () => {
  it('are TypeIDs that the reference implementation reads back as UUIDv7s of now', () => {
    const before = Date.now();
    const ids = Array.from({ length: 1000 }, () => newId('run'));
    const after = Date.now();
    for (const id of ids) {
      expect(id).toMatch(TYPEID);
      const parsed = fromString(id, 'run');
      expect(parsed.toString()).toBe(id);
      const uuid = toUUID(parsed).replaceAll('-', '');
      expect(uuid[12], id).toBe('7');
      expect('89ab', id).toContain(uuid[16]);
      const ms = parseInt(uuid.slice(0, 12), 16);
      expect(ms).toBeGreaterThanOrEqual(before);
      // Ids of the same millisecond may borrow the next ones when the counter runs over; not 1,000 of them.
      expect(ms).toBeLessThanOrEqual(after + 1);
    }
  });

  it('increase strictly within a process, also many in one millisecond', () => {
    const ids = Array.from({ length: 100_000 }, () => newId('evt'));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
  });

  it('end in bits drawn afresh for every id, whatever the prefix', () => {
    const a = newId('req').slice(4);
    const b = newId('req').slice(4);
    // Same millisecond or not, the last 40 bits are drawn afresh for every id.
    expect(a.slice(-8)).not.toBe(b.slice(-8));
    expect(newId('whmsg')).toMatch(/^whmsg_[0-7][0-9a-hjkmnp-tv-z]{25}$/);
  });
});
