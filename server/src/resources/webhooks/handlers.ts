import type { Executor } from '../../db/database.js';
import { etagHeaderWithout } from '../etag.js';
import { defineHandlers } from '../handler-types.js';
import { ProblemError } from '../../problems/problems.js';
import { assertAllowedUrl, type AddressPolicy } from '../../security/addresses.js';
import type { Sealer } from '../../security/sealer.js';
import { mergePatch } from '../../util/merge-patch.js';
import { namesOptIn, recordEvent, wakeAfterCommit } from './outbox.js';
import type { AuthContext } from '../../auth/identity.js';
import { hasScope } from '../../auth/roles.js';
import * as store from './store.js';
import { assertPinnable } from '../../versions/pin.js';
import type { Versioning } from '../../versions/versioning.js';

const DEFAULT_GRACE_SECONDS = 86_400;

/** A URL whose host is (or resolves to) an address the server will not connect to is refused now, not at each delivery. */
const assertDeliverable = (url: string, policy: AddressPolicy) =>
  assertAllowedUrl(url, policy, 'List the address in WEBHOOK_ALLOWED_ADDRESSES, or set WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true, to allow it.');

const requireEnabled = (row: store.EndpointRow, action: string) => {
  if (row.disabled_reason)
    throw new ProblemError('invalid-transition', `Cannot ${action}: the endpoint is disabled (${row.disabled_reason}); enable it first.`);
};

/** The audit log is the admins' to read: streaming it to an endpoint takes the same scope. */
function assertMaySubscribe(auth: AuthContext, eventTypes: string[] | undefined): void {
  if (eventTypes?.some(namesOptIn) && !hasScope(auth.scopes, 'admin')) {
    throw new ProblemError('forbidden', 'Receiving audit.event needs the "admin" scope: the audit log is read by admins only.');
  }
}

const endpointIn = (db: Executor, applicationId: string, id: string, forUpdate = false) =>
  store.getEndpointRow(db, { id, application_id: applicationId }, { forUpdate });

export function webhookHandlers(sealer: Sealer, policy: AddressPolicy, versioning: Versioning) {
  return defineHandlers({
    listWebhookEndpoints: async ({ db, auth, query }) => ({ status: 200, body: await store.listEndpoints(db, auth.applicationId, query) }),

    createWebhookEndpoint: async ({ db, auth, body, apiVersion }) => {
      assertMaySubscribe(auth, body.eventTypes);
      assertPinnable(versioning, body.apiVersion, '/apiVersion');
      await assertDeliverable(body.url, policy);
      const endpoint = await store.insertEndpoint(db, sealer, auth.applicationId, {
        url: body.url,
        description: body.description ?? null,
        eventTypes: body.eventTypes ?? [],
        apiVersion: body.apiVersion ?? apiVersion,
        enabled: body.enabled ?? true,
      });
      const { secret: _secret, ...created } = endpoint;
      await recordEvent(db, auth.applicationId, 'webhook_endpoint.created', created);
      return { status: 201, body: endpoint, headers: { Location: `/api/v1/webhook-endpoints/${endpoint.id}`, ...etagHeaderWithout(endpoint, 'secret') } };
    },

    getWebhookEndpoint: async ({ db, auth, path }) => ({
      status: 200,
      body: store.toWebhookEndpoint(await endpointIn(db, auth.applicationId, path.webhookEndpointId)),
    }),

    updateWebhookEndpoint: async ({ db, auth, path, body, checkIfMatch }) => {
      const row = await endpointIn(db, auth.applicationId, path.webhookEndpointId, true);
      const current = store.toWebhookEndpoint(row);
      checkIfMatch(current);
      const { url, description, eventTypes, apiVersion, enabled } = current;
      const next = mergePatch({ url, description, eventTypes, apiVersion, enabled }, body);
      assertMaySubscribe(auth, body.eventTypes);
      assertPinnable(versioning, body.apiVersion, '/apiVersion');
      if (next.url !== url) await assertDeliverable(next.url, policy);
      await store.updateEndpoint(db, row, {
        url: next.url,
        description: next.description ?? null,
        eventTypes: next.eventTypes,
        apiVersion: next.apiVersion,
        enabled: next.enabled,
      });
      if (enabled && !next.enabled) await store.abandonPending(db, row.id, 'The endpoint was disabled.');
      const endpoint = store.toWebhookEndpoint(await endpointIn(db, auth.applicationId, row.id));
      // webhook_endpoint.disabled is for the server's own decisions (410, failing); this change is the user's.
      await recordEvent(db, auth.applicationId, 'webhook_endpoint.updated', endpoint);
      return { status: 200, body: endpoint };
    },

    deleteWebhookEndpoint: async ({ db, auth, path, checkIfMatch }) => {
      const row = await endpointIn(db, auth.applicationId, path.webhookEndpointId, true);
      const endpoint = store.toWebhookEndpoint(row);
      checkIfMatch(endpoint);
      await store.deleteEndpoint(db, row.id);
      await recordEvent(db, auth.applicationId, 'webhook_endpoint.deleted', endpoint);
      return { status: 204, body: undefined };
    },

    rotateWebhookEndpointSecret: async ({ db, auth, path, body }) => {
      const row = await endpointIn(db, auth.applicationId, path.webhookEndpointId, true);
      const secret = await store.rotateEndpointSecret(db, sealer, row, body?.gracePeriodSeconds ?? DEFAULT_GRACE_SECONDS);
      const rotated = store.toWebhookEndpoint(await endpointIn(db, auth.applicationId, row.id));
      await recordEvent(db, auth.applicationId, 'webhook_endpoint.secret_rotated', rotated);
      const endpoint = { ...rotated, secret };
      return { status: 200, body: endpoint, headers: etagHeaderWithout(endpoint, 'secret') };
    },

    testWebhookEndpoint: async ({ db, auth, path }) => {
      const row = await endpointIn(db, auth.applicationId, path.webhookEndpointId, true);
      requireEnabled(row, 'send a test');
      const [message] = await recordEvent(db, auth.applicationId, 'webhook_endpoint.ping', store.toWebhookEndpoint(row), row.id);
      return { status: 202, body: store.toWebhookMessage(message!) };
    },

    listWebhookMessages: async ({ db, auth, path, query }) => {
      const row = await endpointIn(db, auth.applicationId, path.webhookEndpointId);
      return { status: 200, body: await store.listMessages(db, row.id, query) };
    },

    getWebhookMessage: async ({ db, auth, path }) => ({
      status: 200,
      body: store.toWebhookMessage(await store.getMessageRow(db, { id: path.webhookMessageId, application_id: auth.applicationId })),
    }),

    listWebhookAttempts: async ({ db, auth, path, query }) => {
      const message = await store.getMessageRow(db, { id: path.webhookMessageId, application_id: auth.applicationId });
      return { status: 200, body: await store.listAttempts(db, message.id, query) };
    },

    redeliverWebhookMessage: async ({ db, auth, path }) => {
      const message = await store.getMessageRow(db, { id: path.webhookMessageId, application_id: auth.applicationId }, { forUpdate: true });
      requireEnabled(await endpointIn(db, auth.applicationId, message.endpoint_id), 'redeliver');
      await store.requeueMessage(db, message.id);
      wakeAfterCommit(db);
      return { status: 202, body: store.toWebhookMessage(await store.getMessageRow(db, { id: message.id })) };
    },
  });
}
