import { mergePatch } from '../../util/merge-patch.js';
import { defineHandlers } from '../handler-types.js';
import { findOrganization, updateOrganization } from './store.js';

export const organizationHandlers = defineHandlers({
  getOrganization: async ({ db, auth }) => ({ status: 200, body: await findOrganization(db, auth.organizationId) }),

  updateOrganization: async ({ db, auth, body, checkIfMatch }) => {
    const current = await findOrganization(db, auth.organizationId, { forUpdate: true });
    checkIfMatch(current);
    const next = mergePatch({ name: current.name, auditRetentionDays: current.auditRetentionDays }, body);
    await updateOrganization(db, current.id, next);
    return { status: 200, body: await findOrganization(db, current.id) };
  },
});
