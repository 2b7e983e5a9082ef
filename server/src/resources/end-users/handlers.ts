import type { EndUserTokens } from '../../auth/end-user-tokens.js';
import { ProblemError } from '../../problems/problems.js';
import { mergePatch } from '../../util/merge-patch.js';
import { defineHandlers } from '../handler-types.js';
import * as store from './store.js';

const DEFAULT_TOKEN_SECONDS = 900;

export const endUserHandlers = (tokens: EndUserTokens) =>
  defineHandlers({
    listEndUsers: async ({ db, auth, query }) => ({ status: 200, body: await store.listEndUsers(db, auth.applicationId, query) }),

    createEndUser: async ({ db, auth, body }) => {
      const endUser = await store.insertEndUser(db, auth.applicationId, body.externalId, {
        name: body.name ?? null,
        email: body.email ?? null,
        metadata: body.metadata ?? {},
      });
      return { status: 201, body: endUser, headers: { Location: `/api/v1/end-users/${endUser.id}` } };
    },

    getEndUser: async ({ db, auth, path }) => ({ status: 200, body: await store.getEndUser(db, auth.applicationId, path.endUserId) }),

    updateEndUser: async ({ db, auth, path, body, checkIfMatch }) => {
      const current = await store.getEndUser(db, auth.applicationId, path.endUserId, { forUpdate: true });
      checkIfMatch(current);
      const next = mergePatch({ externalId: current.externalId, name: current.name, email: current.email, metadata: current.metadata }, body);
      await store.updateEndUser(db, current.id, next.externalId, { name: next.name ?? null, email: next.email ?? null, metadata: next.metadata });
      return { status: 200, body: await store.getEndUser(db, auth.applicationId, current.id) };
    },

    upsertEndUser: async ({ db, auth, path, body }) => {
      const fields = { name: body.name ?? null, email: body.email ?? null, metadata: body.metadata ?? {} };
      const current = await store.findByExternalId(db, auth.applicationId, path.externalId, true);
      if (!current) {
        const created = await store.insertEndUser(db, auth.applicationId, path.externalId, fields);
        return { status: 201, body: created, headers: { Location: `/api/v1/end-users/${created.id}` } };
      }
      await store.updateEndUser(db, current.id, current.externalId, fields);
      return { status: 200, body: await store.getEndUser(db, auth.applicationId, current.id) };
    },

    deleteEndUser: async ({ db, auth, path, checkIfMatch }) => {
      const current = await store.getEndUser(db, auth.applicationId, path.endUserId, { forUpdate: true });
      checkIfMatch(current);
      await store.deleteEndUser(db, current.id);
      return { status: 204, body: undefined };
    },

    createEndUserToken: async ({ db, auth, path, body }) => {
      if (auth.endUserId && auth.endUserId !== path.endUserId) {
        throw new ProblemError('not-found', `No end-user with id ${path.endUserId}.`);
      }
      const endUser = await store.getEndUser(db, auth.applicationId, path.endUserId);
      const minted = tokens.mint({ endUserId: endUser.id, applicationId: endUser.applicationId }, body?.ttlSeconds ?? DEFAULT_TOKEN_SECONDS);
      return {
        status: 201,
        body: { object: 'end_user_token', endUserId: endUser.id, applicationId: endUser.applicationId, token: minted.token, expiresAt: minted.expiresAt },
      };
    },
  });
