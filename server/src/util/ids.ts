import { randomFillSync } from 'node:crypto';

export type IdPrefix =
  | 'org'
  | 'app'
  | 'key'
  | 'agent'
  | 'req'
  | 'run'
  | 'evt'
  | 'runner'
  | 'lease'
  | 'eu'
  | 'sched'
  | 'trg'
  | 'whep'
  | 'whmsg'
  | 'whatt'
  | 'prov'
  | 'model'
  | 'usage'
  | 'trn'
  | 'upl'
  | 'user'
  | 'sess'
  | 'pat'
  | 'inv'
  | 'aud'
  | 'audexp'
  | 'costexp'
  | 'bdg'
  | 'thread'
  | 'msg'
  | 'appr'
  | 'apcm'
  | 'task'
  | 'tcmt'
  | 'goal'
  | 'proj'
  | 'sec'
  | 'sacc'
  | 'kb'
  | 'doc'
  | 'chk'
  | 'int'
  | 'con'
  | 'cses'
  | 'inst';

/** TypeID's suffix alphabet: Crockford's base32, lower case. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Random bytes drawn from the system a pool at a time: one call per 400 ids instead of one per id. */
const pool = Buffer.allocUnsafe(4096);
let poolOffset = pool.length;
function randomOffset(count: number): number {
  if (poolOffset + count > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const offset = poolOffset;
  poolOffset += count;
  return offset;
}

/** The last id's millisecond, and its 31-bit counter: ids of one process increase strictly. */
let lastMs = 0;
let counter = 0;
const bytes = new Uint8Array(16);

/**
 * The 16 bytes of a UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, version 7, 12 bits and 6
 * bits (around the variant) of a counter that starts at a random value each millisecond and steps
 * by one within it (the RFC's method 1, as the `uuid` package does), then random bits. A clock that
 * goes back, or more ids in one millisecond than the counter holds, borrows the next millisecond.
 */
function uuidv7(): Uint8Array {
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    counter = pool.readUInt32BE(randomOffset(4)) >>> 1;
  } else if (++counter > 0x7fffffff) {
    lastMs++;
    counter = 0;
  }
  const ms = lastMs;
  const high = Math.floor(ms / 0x100000000);
  bytes[0] = (high >>> 8) & 0xff;
  bytes[1] = high & 0xff;
  bytes[2] = (ms >>> 24) & 0xff;
  bytes[3] = (ms >>> 16) & 0xff;
  bytes[4] = (ms >>> 8) & 0xff;
  bytes[5] = ms & 0xff;
  bytes[6] = 0x70 | ((counter >>> 27) & 0x0f);
  bytes[7] = (counter >>> 19) & 0xff;
  bytes[8] = 0x80 | ((counter >>> 13) & 0x3f);
  bytes[9] = (counter >>> 5) & 0xff;
  const random = randomOffset(6);
  bytes[10] = ((counter & 0x1f) << 3) | (pool[random]! & 0x07);
  for (let i = 11; i < 16; i++) bytes[i] = pool[random + i - 10]!;
  return bytes;
}

/** The 26-character TypeID suffix of 16 bytes: 130 bits, the first character 0 to 7. */
function suffixOf(b: Uint8Array): string {
  const c = (i: number) => ALPHABET[i]!;
  return (
    c((b[0]! & 224) >> 5) +
    c(b[0]! & 31) +
    c((b[1]! & 248) >> 3) +
    c(((b[1]! & 7) << 2) | ((b[2]! & 192) >> 6)) +
    c((b[2]! & 62) >> 1) +
    c(((b[2]! & 1) << 4) | ((b[3]! & 240) >> 4)) +
    c(((b[3]! & 15) << 1) | ((b[4]! & 128) >> 7)) +
    c((b[4]! & 124) >> 2) +
    c(((b[4]! & 3) << 3) | ((b[5]! & 224) >> 5)) +
    c(b[5]! & 31) +
    c((b[6]! & 248) >> 3) +
    c(((b[6]! & 7) << 2) | ((b[7]! & 192) >> 6)) +
    c((b[7]! & 62) >> 1) +
    c(((b[7]! & 1) << 4) | ((b[8]! & 240) >> 4)) +
    c(((b[8]! & 15) << 1) | ((b[9]! & 128) >> 7)) +
    c((b[9]! & 124) >> 2) +
    c(((b[9]! & 3) << 3) | ((b[10]! & 224) >> 5)) +
    c(b[10]! & 31) +
    c((b[11]! & 248) >> 3) +
    c(((b[11]! & 7) << 2) | ((b[12]! & 192) >> 6)) +
    c((b[12]! & 62) >> 1) +
    c(((b[12]! & 1) << 4) | ((b[13]! & 240) >> 4)) +
    c(((b[13]! & 15) << 1) | ((b[14]! & 128) >> 7)) +
    c((b[14]! & 124) >> 2) +
    c(((b[14]! & 3) << 3) | ((b[15]! & 224) >> 5)) +
    c(b[15]! & 31)
  );
}

/**
 * A new TypeID (`run_01jc...`): the prefix, `_`, and a UUIDv7 in base32. Written here rather than
 * taken from `typeid-js`, whose `typeid()` cost 2 to 5 us an id (an object, checks of what it
 * just made, an array joined), which every request paid at least once for its request id.
 */
export const newId = (prefix: IdPrefix): string => `${prefix}_${suffixOf(uuidv7())}`;
