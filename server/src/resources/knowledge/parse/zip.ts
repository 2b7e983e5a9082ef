import { DocumentParseError } from './errors.js';

/** What a ZIP's central directory declares, read without inflating anything. */
export type ZipDirectory = { names: Set<string>; uncompressedBytes: number };

const END_OF_DIRECTORY = 0x06054b50;
const DIRECTORY_ENTRY = 0x02014b50;
const ZIP64_MARKER = 0xffffffff;

export function isZip(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes.readUInt32LE(0) === 0x04034b50;
}

/** The central directory's entries, or undefined when the archive's directory cannot be found or is cut short. */
export function readZipDirectory(bytes: Buffer): ZipDirectory | undefined {
  // The end record is the last 22 bytes plus a comment of at most 65,535 bytes.
  const floor = Math.max(0, bytes.length - 22 - 0xffff);
  let end = -1;
  for (let i = bytes.length - 22; i >= floor; i--) {
    if (bytes.readUInt32LE(i) === END_OF_DIRECTORY) {
      end = i;
      break;
    }
  }
  if (end < 0) return undefined;
  const count = bytes.readUInt16LE(end + 10);
  const offset = bytes.readUInt32LE(end + 16);
  // ZIP64 exists for archives past 4 GB or 65,535 entries: far beyond any document we accept.
  if (count === 0xffff || offset === ZIP64_MARKER) return { names: new Set(), uncompressedBytes: Infinity };
  const names = new Set<string>();
  let uncompressedBytes = 0;
  let at = offset;
  for (let n = 0; n < count; n++) {
    if (at + 46 > bytes.length || bytes.readUInt32LE(at) !== DIRECTORY_ENTRY) return undefined;
    const size = bytes.readUInt32LE(at + 24);
    const nameLength = bytes.readUInt16LE(at + 28);
    const next = at + 46 + nameLength + bytes.readUInt16LE(at + 30) + bytes.readUInt16LE(at + 32);
    if (next > bytes.length) return undefined;
    names.add(bytes.toString('utf8', at + 46, at + 46 + nameLength));
    uncompressedBytes += size === ZIP64_MARKER ? Infinity : size;
    at = next;
  }
  return { names, uncompressedBytes };
}

const MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024;
const MAX_ENTRIES = 10_000;

/** Refuses an archive that would inflate past what a real document needs, before anything decompresses it. */
export function assertZipWithinLimits(directory: ZipDirectory): void {
  if (directory.names.size > MAX_ENTRIES || directory.uncompressedBytes > MAX_UNCOMPRESSED_BYTES) {
    throw new DocumentParseError('unparseable', 'The .docx file is too large once uncompressed (over 50 MB or 10,000 parts).');
  }
}
