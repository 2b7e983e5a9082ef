import type { Logger } from 'pino';
import type { Executor } from '../db/database.js';
import { queryRows } from '../db/statements.js';
import type { components } from '../generated/openapi.js';
import type { Sealer } from './sealer.js';

/** Every column the master key seals, with the column holding the application its values are bound to. */
const SEALED_COLUMNS = [
  { table: 'secret_versions', column: 'data_key_sealed' },
  { table: 'webhook_endpoints', column: 'secret_sealed' },
  { table: 'webhook_endpoints', column: 'previous_secret_sealed' },
  { table: 'triggers', column: 'secret_sealed' },
  { table: 'model_providers', column: 'credential_sealed' },
  { table: 'integrations', column: 'client_secret_key_sealed' },
  { table: 'connections', column: 'data_key_sealed' },
  { table: 'connect_sessions', column: 'verifier_sealed' },
] as const;

const BATCH = 200;

export type MasterKeys = NonNullable<components['schemas']['Readiness']['masterKeys']>;

/** Values sealed under another key than the current one (the prefix is `v1:<key id>:`). */
const underPrevious = (db: Executor, table: string, column: string, currentKeyId: string) =>
  db(table).whereNotNull(column).whereNot(column, 'like', `v1:${currentKeyId}:%`);

/**
 * Re-seals, under the current master key, the values still sealed under a previous one: for a
 * secret that is its data key alone, so the value's ciphertext never changes. Each update applies
 * only if the value is still the one read, so replicas passing at once cannot undo a change.
 */
export async function rewrapPass(db: Executor, sealer: Sealer): Promise<number> {
  if (!sealer.previousKeyIds.length) return 0;
  let rewrapped = 0;
  for (const { table, column } of SEALED_COLUMNS) {
    for (;;) {
      const rows = (await underPrevious(db, table, column, sealer.currentKeyId).select('application_id', `${column} as sealed`).limit(BATCH)) as {
        application_id: string;
        sealed: string;
      }[];
      let changed = 0;
      for (const row of rows) {
        const resealed = sealer.seal(sealer.open(row.sealed, row.application_id), row.application_id);
        changed += await db(table)
          .where(column, row.sealed)
          .update({ [column]: resealed });
      }
      rewrapped += changed;
      if (rows.length < BATCH || changed === 0) break;
    }
  }
  return rewrapped;
}

/** How many stored values each previous key still opens: 0 means that key can be retired. */
export async function masterKeyUse(db: Executor, sealer: Sealer): Promise<MasterKeys> {
  const counts = new Map(sealer.previousKeyIds.map((id) => [id, 0]));
  if (counts.size) {
    for (const { table, column } of SEALED_COLUMNS) {
      const rows = await queryRows<{ key_id: string; n: number | string }>(
        underPrevious(db, table, column, sealer.currentKeyId)
          .select(db.raw(`substr(${column}, 4, 8) as key_id`))
          .count({ n: '*' })
          .groupBy('key_id'),
      );
      for (const row of rows) if (counts.has(row.key_id)) counts.set(row.key_id, counts.get(row.key_id)! + Number(row.n));
    }
  }
  return { current: sealer.currentKeyId, previous: [...counts].map(([id, sealedValues]) => ({ id, sealedValues })) };
}

/** The re-wrapping pass at start and every `intervalMs`, and what it last found (for `/readyz`). */
export function startRewrapper(db: Executor, sealer: Sealer, logger: Logger, intervalMs: number) {
  let last: MasterKeys | undefined;
  let running: Promise<void> | undefined;
  const pass = () =>
    (running ??= (async () => {
      const rewrapped = await rewrapPass(db, sealer);
      if (rewrapped) logger.info({ rewrapped, currentKeyId: sealer.currentKeyId }, 're-sealed values under the current master key');
      last = await masterKeyUse(db, sealer);
    })()
      .catch((err: unknown) => logger.warn({ err }, 'master key re-wrapping failed'))
      .finally(() => {
        running = undefined;
      }));
  let timer: NodeJS.Timeout | undefined;
  return {
    /** What the last pass found; undefined before it, and without previous keys (nothing to retire). */
    status: (): MasterKeys | undefined => last,
    start() {
      if (!sealer.previousKeyIds.length) return;
      void pass();
      timer = setInterval(() => void pass(), intervalMs);
      timer.unref();
    },
    now: pass,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
