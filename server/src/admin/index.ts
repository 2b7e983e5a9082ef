/**
 * The operator's commands, run on the server's machine against its database (not over the API):
 * `switchboard admin backup|restore|create-key` load this module.
 */
export { AdminError } from './errors.js';
export { backupDatabase, type BackupResult } from './backup.js';
export { restoreDatabase, type RestoreResult } from './restore.js';
export { createAdminKey, RECOVERED_KEY_NAME, type CreateKeyOptions, type CreateKeyResult } from './create-key.js';
export { currentSchema, type Schema } from './schema.js';
