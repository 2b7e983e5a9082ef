import type { EventBus } from '../../realtime/bus.js';
import { mergePatch } from '../../util/merge-patch.js';
import { assertPinnable } from '../../versions/pin.js';
import type { Versioning } from '../../versions/versioning.js';
import { defineHandlers } from '../handler-types.js';
import { findOrganization, updateOrganization } from './store.js';

/** A changed pin is dropped from every replica's cache of organizations' versions once it is committed. */
export const organizationHandlers = (bus: EventBus, versioning: Versioning) =>
  defineHandlers({
    getOrganization: async ({ db, auth }) => ({ status: 200, body: await findOrganization(db, auth.organizationId) }),

    updateOrganization: async ({ db, auth, body, checkIfMatch, afterCommit }) => {
      const current = await findOrganization(db, auth.organizationId, { forUpdate: true });
      checkIfMatch(current);
      assertPinnable(versioning, body.apiVersion, '/apiVersion');
      const next = mergePatch({ name: current.name, apiVersion: current.apiVersion, auditRetentionDays: current.auditRetentionDays }, body);
      await updateOrganization(db, current.id, next);
      if (next.apiVersion !== current.apiVersion) afterCommit(() => bus.publishKeyChanges([current.id]));
      return { status: 200, body: await findOrganization(db, current.id) };
    },
  });
