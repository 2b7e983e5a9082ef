import { etagHeaderWithout } from '../etag.js';
import { defineHandlers } from '../handler-types.js';
import { ProblemError } from '../../problems/problems.js';
import { mergePatch } from '../../util/merge-patch.js';
import { nowIso } from '../../util/time.js';
import type { EventBus } from '../../realtime/bus.js';
import { recordEvent } from '../webhooks/outbox.js';
import { apiKeyMachine } from './state-machine.js';
import * as store from './store.js';
import { assertPinnable } from '../../versions/pin.js';
import type { Versioning } from '../../versions/versioning.js';

const DEFAULT_GRACE_SECONDS = 86_400;

/** Every replica drops its cached copy of a changed key once the change is committed. */
export const apiKeyHandlers = (bus: EventBus, versioning: Versioning) => {
  const changed = (keyId: string) => () => bus.publishKeyChanges([keyId]);
  return defineHandlers({
    listApiKeys: async ({ db, auth, query }) => ({ status: 200, body: await store.listApiKeys(db, auth.applicationId, query) }),

    createApiKey: async ({ db, auth, body }) => {
      if (body.expiresAt && Date.parse(body.expiresAt) <= Date.parse(nowIso())) {
        throw new ProblemError('validation-error', 'expiresAt must be in the future.', {
          errors: [{ pointer: '/expiresAt', in: 'body', detail: 'expiresAt must be in the future.' }],
        });
      }
      assertPinnable(versioning, body.apiVersion, '/apiVersion');
      const key = await store.insertApiKey(db, { organizationId: auth.organizationId, applicationId: auth.applicationId }, body);
      await recordEvent(db, auth.applicationId, 'api_key.created', await store.getApiKey(db, auth.applicationId, key.id));
      return { status: 201, body: key, headers: { Location: `/api/v1/api-keys/${key.id}`, ...etagHeaderWithout(key, 'secret') } };
    },

    getApiKey: async ({ db, auth, path }) => ({ status: 200, body: await store.getApiKey(db, auth.applicationId, path.apiKeyId) }),

    updateApiKey: async ({ db, auth, path, body, checkIfMatch, afterCommit }) => {
      const current = await store.getApiKey(db, auth.applicationId, path.apiKeyId, { forUpdate: true });
      checkIfMatch(current);
      assertPinnable(versioning, body.apiVersion, '/apiVersion');
      const { name, scopes, allowedModels, apiVersion } = mergePatch(
        { name: current.name, scopes: current.scopes, allowedModels: current.allowedModels, apiVersion: current.apiVersion },
        body,
      );
      await store.updateApiKey(db, current.id, { name, scopes, allowedModels: allowedModels ?? null, apiVersion: apiVersion ?? null });
      afterCommit(changed(current.id));
      const key = await store.getApiKey(db, auth.applicationId, current.id);
      await recordEvent(db, auth.applicationId, 'api_key.updated', key);
      return { status: 200, body: key };
    },

    revokeApiKey: async ({ db, auth, path, afterCommit }) => {
      const current = await store.getApiKey(db, auth.applicationId, path.apiKeyId, { forUpdate: true });
      const { event } = apiKeyMachine.assertTransition('revoke', current.status);
      await store.revokeApiKey(db, current.id);
      afterCommit(changed(current.id));
      const key = await store.getApiKey(db, auth.applicationId, current.id);
      await recordEvent(db, auth.applicationId, event, key);
      return { status: 200, body: key };
    },

    rotateApiKey: async ({ db, auth, path, body, afterCommit }) => {
      const current = await store.getApiKey(db, auth.applicationId, path.apiKeyId, { forUpdate: true });
      const { event } = apiKeyMachine.assertTransition('rotate', current.status);
      const rotated = await store.rotateApiKey(db, auth.applicationId, current.id, body?.gracePeriodSeconds ?? DEFAULT_GRACE_SECONDS);
      afterCommit(changed(current.id));
      await recordEvent(db, auth.applicationId, event, await store.getApiKey(db, auth.applicationId, current.id));
      return { status: 200, body: rotated, headers: etagHeaderWithout(rotated, 'secret') };
    },
  });
};
