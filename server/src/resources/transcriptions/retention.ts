import type { Db } from '../../db/database.js';
import { deleteExpiredUploads } from '../uploads/store.js';
import { deleteExpiredAudio } from './store.js';

/** Rows per statement: a pass deletes in batches, so no statement holds locks (or SQLite's writer) for long. */
const BATCH = 100;
/** Batches per pass at most: what remains waits for the next pass. */
const MAX_BATCHES = 50;

/** Deletes expired uploads and expired transcription audio, in bounded batches; returns how many of each. */
export async function sweepExpired(db: Db): Promise<{ uploads: number; audio: number }> {
  const swept = { uploads: 0, audio: 0 };
  for (let batch = 0; batch < MAX_BATCHES; batch++) {
    const uploads = await deleteExpiredUploads(db, BATCH);
    const audio = await deleteExpiredAudio(db, BATCH);
    swept.uploads += uploads;
    swept.audio += audio;
    if (uploads < BATCH && audio < BATCH) break;
  }
  return swept;
}
