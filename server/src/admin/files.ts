import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, openSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';

/** Flushes a file, or a directory's entries (a rename is durable once its directory is), to the disk. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

export const isDirectory = (path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;

/** A UTC time for file names that sort by it: 20261206T211500Z. */
export const fileStamp = (at: Date) =>
  at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
