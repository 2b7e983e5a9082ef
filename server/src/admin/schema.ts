import { migrationSource } from '../db/migrations/index.js';
import { AdminError } from './errors.js';

/** A database's schema as its migrations table records it: the last migration names the version. */
export type Schema = { version: string; migrations: number };

/** The migrations this build of Switchboard knows, oldest first. */
const knownMigrations = () => migrationSource.getMigrations([]);

export const schemaOf = (applied: readonly string[]): Schema => ({ version: applied.at(-1) ?? 'none', migrations: applied.length });

/** This build's own schema version. */
export async function currentSchema(): Promise<Schema> {
  return schemaOf(await knownMigrations());
}

/**
 * Refuses a database with a migration this build does not know: a newer Switchboard made it, and
 * this one would misread its tables. `what` names it in the message ("the backup").
 */
export async function assertNotNewer(what: string, applied: readonly string[]): Promise<void> {
  const known = new Set(await knownMigrations());
  const unknown = applied.filter((name) => !known.has(name));
  if (unknown.length) {
    const ours = await currentSchema();
    throw new AdminError(
      `${what} has schema version ${schemaOf(applied).version}, newer than this Switchboard's (${ours.version}): ` +
        `it has migrations this version does not know (${unknown.join(', ')}). Use the Switchboard version that made it.`,
    );
  }
}

/** Refuses a database whose schema is not exactly this build's (writing to it needs the tables as this code knows them). */
export async function assertCurrent(what: string, applied: readonly string[]): Promise<void> {
  await assertNotNewer(what, applied);
  const ours = await currentSchema();
  if (applied.length < ours.migrations) {
    throw new AdminError(
      `${what} has schema version ${schemaOf(applied).version}, older than this Switchboard's (${ours.version}): ` +
        'start this version of the server once (it upgrades the schema), then run the command again.',
    );
  }
}
