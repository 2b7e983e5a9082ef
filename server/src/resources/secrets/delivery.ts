import type { Executor } from '../../db/database.js';
import { queryRows } from '../../db/statements.js';
import type { Sealer } from '../../security/sealer.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';
import { decryptValue } from './envelope.js';
import type { SecretRow, VersionRow } from './store.js';

/** What a claim hands its runner: the values by name, and the names the agent references that have no secret. */
export type Released = { values: Record<string, string>; missing: string[] };

export const NOTHING_RELEASED: Released = { values: {}, missing: [] };

type Claimed = { id: string; application_id: string; agent_id: string; agent_version: number; lease_id: string | null };

/**
 * The current version of each secret the run's agent version references, decrypted for the runner
 * that now holds the lease; in the claim's transaction, so each delivery is logged (an access) only
 * when the lease it went with commits.
 */
export async function releaseSecrets(db: Executor, sealer: Sealer, run: Claimed, runnerId: string): Promise<Released> {
  const version = await db('agent_versions').where({ agent_id: run.agent_id, version: run.agent_version }).first<{ secrets: string } | undefined>('secrets');
  const names = fromJsonColumn<string[]>(version?.secrets, []);
  if (!names.length) return NOTHING_RELEASED;
  const rows = await queryRows<Pick<SecretRow, 'id' | 'name'> & Pick<VersionRow, 'version' | 'data_key_sealed' | 'value_encrypted'>>(
    db('secrets as s')
      .join('secret_versions as v', (j) => j.on('v.secret_id', 's.id').andOn('v.version', 's.current_version'))
      .where('s.application_id', run.application_id)
      .whereIn('s.name', names)
      .select('s.id', 's.name', 'v.version', 'v.data_key_sealed', 'v.value_encrypted'),
  );
  const now = nowIso();
  const values: Record<string, string> = {};
  for (const row of rows) {
    const place = { applicationId: run.application_id, secretId: row.id, version: row.version };
    values[row.name] = decryptValue(sealer, place, { dataKeySealed: row.data_key_sealed, valueEncrypted: row.value_encrypted });
  }
  if (rows.length) {
    await db('secret_accesses').insert(
      rows.map((row) => ({
        id: newId('sacc'),
        application_id: run.application_id,
        secret_id: row.id,
        version: row.version,
        run_id: run.id,
        lease_id: run.lease_id,
        runner_id: runnerId,
        purpose: 'claim',
        created_at: now,
      })),
    );
    await db('secrets')
      .whereIn(
        'id',
        rows.map((row) => row.id),
      )
      .update({ last_accessed_at: now });
  }
  return { values, missing: names.filter((name) => !(name in values)) };
}
