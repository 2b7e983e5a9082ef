import type { Executor } from '../../db/database.js';
import { newId } from '../../util/ids.js';
import { nowIso } from '../../util/time.js';

/** The `eu_` id of the application's end-user with this external id, created on first use. */
export async function endUserIdFor(db: Executor, applicationId: string, externalId: string): Promise<string> {
  const now = nowIso();
  await db('end_users')
    .insert({ id: newId('eu'), application_id: applicationId, external_id: externalId, created_at: now, updated_at: now })
    .onConflict(['application_id', 'external_id'])
    .ignore();
  const row = await db('end_users').where({ application_id: applicationId, external_id: externalId }).first<{ id: string }>('id');
  return row.id;
}
