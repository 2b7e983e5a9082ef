import { hostname, userInfo } from 'node:os';
import type { Knex } from 'knex';
import { closeDatabase } from '../db/database.js';
import { insertAuditEvent } from '../resources/audit/store.js';
import { getApiKey, insertApiKey, type ApiKey, type ApiKeyWithSecret } from '../resources/api-keys/store.js';
import { recordEvent } from '../resources/webhooks/outbox.js';
import { newId } from '../util/ids.js';
import { openExistingDatabase } from './connection.js';
import { AdminError } from './errors.js';
import { adminDatabase } from './target.js';

export const RECOVERED_KEY_NAME = 'recovered by switchboard admin create-key';

export type CreateKeyOptions = {
  database?: string;
  /** Default: the first organization (the one the first start created). */
  organization?: string;
  /** Default: the organization's first application. */
  application?: string;
  name?: string;
  scopes?: ApiKey['scopes'];
};

export type CreateKeyResult = { database: string; organizationId: string; applicationId: string; key: ApiKeyWithSecret; actor: string };

type Owner = { organizationId: string; applicationId: string };

async function ownerOf(db: Knex, options: CreateKeyOptions): Promise<Owner> {
  if (options.application) {
    const app = await db('applications').where({ id: options.application }).first<{ organization_id: string } | undefined>('organization_id');
    if (!app) throw new AdminError(`No application ${options.application} in this database.`);
    if (options.organization && options.organization !== app.organization_id) {
      throw new AdminError(`Application ${options.application} belongs to organization ${app.organization_id}, not ${options.organization}.`);
    }
    return { organizationId: app.organization_id, applicationId: options.application };
  }
  const org = options.organization
    ? await db('organizations').where({ id: options.organization }).first<{ id: string } | undefined>('id')
    : await db('organizations')
        .orderBy([{ column: 'created_at' }, { column: 'id' }])
        .first<{ id: string } | undefined>('id');
  if (!org) throw new AdminError(options.organization ? `No organization ${options.organization} in this database.` : 'The database has no organization yet.');
  const app = await db('applications')
    .where({ organization_id: org.id })
    .orderBy([{ column: 'created_at' }, { column: 'id' }])
    .first<{ id: string } | undefined>('id');
  if (!app) throw new AdminError(`Organization ${org.id} has no application: name one with --application.`);
  return { organizationId: org.id, applicationId: app.id };
}

/** Who ran the command, for the audit log: the account on this machine. */
function operator(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = process.env.USER ?? 'unknown';
  }
  return `${user}@${hostname()}`;
}

/**
 * Issues an application API key straight into the database, for an operator whose admin key is
 * lost: created as `POST /api-keys` creates one (hashed, its scopes, the `api_key.created` webhook
 * event) and recorded in the audit log as `api_key.create` by `system`, the operator's account and
 * machine as the user agent. A running server accepts it at once: its key cache holds only keys it
 * has seen. The secret is returned once and stored nowhere.
 */
export async function createAdminKey(options: CreateKeyOptions = {}): Promise<CreateKeyResult> {
  const { db, shown } = await openExistingDatabase(adminDatabase(options.database));
  try {
    const owner = await ownerOf(db, options);
    const actor = operator();
    const key = await db.transaction(async (trx) => {
      // The write first: on SQLite it takes the write lock before any read, so it waits for the server's commits instead of failing.
      const created = await insertApiKey(trx, owner, { name: options.name ?? RECOVERED_KEY_NAME, scopes: options.scopes ?? ['admin'] });
      await recordEvent(trx, owner.applicationId, 'api_key.created', await getApiKey(trx, owner.applicationId, created.id));
      await insertAuditEvent(trx, {
        organizationId: owner.organizationId,
        applicationId: owner.applicationId,
        action: 'api_key.create',
        outcome: 'succeeded',
        status: 201,
        actor: { type: 'system', id: null, userId: null },
        endUserId: null,
        resourceType: 'api_key',
        resourceId: created.id,
        runId: null,
        request: {
          id: newId('req'),
          operationId: null,
          method: null,
          path: null,
          idempotencyKey: null,
          apiVersion: null,
          ip: null,
          userAgent: `switchboard admin create-key (${actor})`,
        },
        before: null,
        after: created,
      });
      return created;
    });
    return { database: shown, ...owner, key, actor };
  } finally {
    await closeDatabase(db);
  }
}
