import Database from 'better-sqlite3';
import { AdminError } from './errors.js';

/**
 * Refuses while any process has the database open. The server keeps it in WAL mode, where every
 * open connection holds a shared lock on the file from open to close, so an exclusive lock taken
 * without waiting succeeds only when nobody else has it open. The lock is released on return; the
 * last connection's close also checkpoints the WAL into the file.
 */
export function assertNotInUse(path: string): void {
  const db = new Database(path, { fileMustExist: true, timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('ROLLBACK');
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      throw new AdminError(`${path} is in use (a Switchboard server, or another program, has it open): stop the server, then restore.`);
    }
    throw new AdminError(`The database ${path} cannot be opened: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}
