import type { Db } from '../../db/database.js';
import { nowIso } from '../../util/time.js';
import { recordEvent } from '../webhooks/outbox.js';
import { hasUnfinishedRuns } from './runs.js';
import { deleteThread, expiredThreadIds, lockedThread } from './store.js';

/** Threads per pass at most: what remains waits for the next pass. */
const BATCH = 100;

/**
 * Deletes the threads past their expiry, each in its own transaction after reading it again
 * locked (so replicas may sweep at once, and a thread touched meanwhile is kept), with a
 * `thread.expired` event. A thread with a run in progress waits for the run to end. Returns how
 * many were deleted.
 */
export async function expireThreads(db: Db): Promise<number> {
  let deleted = 0;
  for (const id of await expiredThreadIds(db, BATCH)) {
    const expired = await db.transaction(async (trx) => {
      const thread = await lockedThread(trx, id);
      if (!thread?.expiresAt || thread.expiresAt > nowIso() || (await hasUnfinishedRuns(trx, id))) return false;
      await recordEvent(trx, thread.applicationId, 'thread.expired', thread);
      await deleteThread(trx, id);
      return true;
    });
    if (expired) deleted++;
  }
  return deleted;
}
