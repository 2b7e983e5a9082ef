import { isPostgres, type Db } from './db/database.js';
import { hashSecret } from './auth/keys.js';
import { insertApiKey } from './resources/api-keys/store.js';
import { insertOrganization } from './resources/organization/store.js';

export type BootstrapResult = { created: false } | { created: true; organizationId: string; applicationId: string; secret: string };

/**
 * On an empty database, creates an organization, an application and an admin key. A configured
 * bootstrap key is that admin key; it is added to the first application if it is not known yet,
 * so scripts can rely on it.
 */
export async function bootstrap(db: Db, apiVersion: string, bootstrapKey: string | undefined): Promise<BootstrapResult> {
  return db.transaction(async (trx) => {
    // Replicas starting together on an empty database must create one organization, not one each.
    if (isPostgres(trx)) await trx.raw('LOCK TABLE organizations IN SHARE ROW EXCLUSIVE MODE');
    const org = await trx('organizations').orderBy('created_at').first<{ id: string } | undefined>('id');
    if (org) {
      if (!bootstrapKey) return { created: false };
      const hash = hashSecret(bootstrapKey);
      const known = await trx('api_keys').where('secret_hash', hash).orWhere('previous_secret_hash', hash).first<{ id: string } | undefined>('id');
      const app = await trx('applications').where({ organization_id: org.id }).orderBy('created_at').first<{ id: string } | undefined>('id');
      if (known || !app) return { created: false };
      await insertApiKey(trx, { organizationId: org.id, applicationId: app.id }, { name: 'Bootstrap admin key', scopes: ['admin'] }, bootstrapKey);
      return { created: true, organizationId: org.id, applicationId: app.id, secret: bootstrapKey };
    }
    const { organizationId, applicationId } = await insertOrganization(trx, {
      name: 'Default organization',
      apiVersion,
      applicationDescription: 'Created on first start.',
    });
    const key = await insertApiKey(trx, { organizationId, applicationId }, { name: 'Bootstrap admin key', scopes: ['admin'] }, bootstrapKey);
    return { created: true, organizationId, applicationId, secret: key.secret };
  });
}

/** The installation's identity: its first organization's id, which bootstrap made and nothing changes. */
export async function installationId(db: Db): Promise<string> {
  const org = await db('organizations').orderBy('created_at').first<{ id: string }>('id');
  return org.id;
}
