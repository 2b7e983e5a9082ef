import type { Sealer } from '../../security/sealer.js';
import { defineHandlers } from '../handler-types.js';
import { recordEvent } from '../webhooks/outbox.js';
import * as store from './store.js';

/** Every answer, audit entry and webhook carries a secret's metadata: its value is written, never read, through the API. */
export const secretHandlers = (sealer: Sealer) =>
  defineHandlers({
    listSecrets: async ({ db, auth, query }) => ({ status: 200, body: await store.listSecrets(db, auth.applicationId, query) }),

    createSecret: async ({ db, auth, body }) => {
      const row = await store.insertSecret(db, sealer, auth.applicationId, { name: body.name, value: body.value, description: body.description ?? null });
      const secret = store.toSecret(row);
      await recordEvent(db, auth.applicationId, 'secret.created', secret);
      return { status: 201, body: secret, headers: { Location: `/api/v1/secrets/${secret.id}` } };
    },

    getSecret: async ({ db, auth, path }) => ({ status: 200, body: store.toSecret(await store.getSecretRow(db, auth.applicationId, path.secretId)) }),

    updateSecret: async ({ db, auth, path, body, checkIfMatch }) => {
      const row = await store.getSecretRow(db, auth.applicationId, path.secretId, { forUpdate: true });
      checkIfMatch(store.toSecret(row));
      const secret = store.toSecret(body.description === undefined ? row : await store.updateDescription(db, row, body.description));
      await recordEvent(db, auth.applicationId, 'secret.updated', secret);
      return { status: 200, body: secret };
    },

    deleteSecret: async ({ db, auth, path, checkIfMatch }) => {
      const row = await store.getSecretRow(db, auth.applicationId, path.secretId, { forUpdate: true });
      const secret = store.toSecret(row);
      checkIfMatch(secret);
      await db('secrets').where({ id: row.id }).delete();
      await recordEvent(db, auth.applicationId, 'secret.deleted', secret);
      return { status: 204, body: undefined };
    },

    listSecretVersions: async ({ db, auth, path, query }) => {
      const row = await store.getSecretRow(db, auth.applicationId, path.secretId);
      return { status: 200, body: await store.listVersions(db, row.id, query) };
    },

    createSecretVersion: async ({ db, auth, path, body }) => {
      const row = await store.getSecretRow(db, auth.applicationId, path.secretId, { forUpdate: true });
      const { secret, version } = await store.addVersion(db, sealer, row, body.value);
      await recordEvent(db, auth.applicationId, 'secret.updated', store.toSecret(secret));
      return { status: 201, body: version };
    },

    listSecretAccesses: async ({ db, auth, path, query }) => {
      const row = await store.getSecretRow(db, auth.applicationId, path.secretId);
      return { status: 200, body: await store.listAccesses(db, row.id, query) };
    },
  });
