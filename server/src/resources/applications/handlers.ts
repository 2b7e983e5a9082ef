import { defineHandlers } from '../handler-types.js';
import { ProblemError } from '../../problems/problems.js';
import type { EventBus } from '../../realtime/bus.js';
import { mergePatch } from '../../util/merge-patch.js';
import { apiKeyIdsOf } from '../api-keys/store.js';
import * as store from './store.js';

export const applicationHandlers = (bus: EventBus) =>
  defineHandlers({
    listApplications: async ({ db, auth, query }) => ({ status: 200, body: await store.listApplications(db, auth.organizationId, query) }),

    createApplication: async ({ db, auth, body }) => {
      const application = await store.insertApplication(db, auth.organizationId, body);
      return { status: 201, body: application, headers: { Location: `/api/v1/applications/${application.id}` } };
    },

    getApplication: async ({ db, auth, path }) => ({ status: 200, body: await store.getApplication(db, auth.organizationId, path.applicationId) }),

    updateApplication: async ({ db, auth, path, body, checkIfMatch }) => {
      const current = await store.getApplication(db, auth.organizationId, path.applicationId, { forUpdate: true });
      checkIfMatch(current);
      const next = mergePatch({ name: current.name, description: current.description }, body);
      await store.updateApplication(db, current.id, { name: next.name, description: next.description ?? null });
      return { status: 200, body: await store.getApplication(db, auth.organizationId, current.id) };
    },

    deleteApplication: async ({ db, auth, path, checkIfMatch, afterCommit }) => {
      const current = await store.getApplication(db, auth.organizationId, path.applicationId, { forUpdate: true });
      checkIfMatch(current);
      if (current.id === auth.keyApplicationId) {
        throw new ProblemError('conflict', 'This is the application of the key making the request; delete it with a key of another application.');
      }
      // Its keys go with it: no replica may keep trusting a cached one.
      const keyIds = await apiKeyIdsOf(db, current.id);
      await store.deleteApplication(db, current.id);
      afterCommit(() => bus.publishKeyChanges(keyIds));
      return { status: 204, body: undefined };
    },
  });
