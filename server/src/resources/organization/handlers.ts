import { defineHandlers } from '../handler-types.js';
import { findOrganization } from './store.js';

export const organizationHandlers = defineHandlers({
  getOrganization: async ({ db, auth }) => ({ status: 200, body: await findOrganization(db, auth.organizationId) }),
});
