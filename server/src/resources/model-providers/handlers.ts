import { defineHandlers } from '../handler-types.js';
import { ProblemError } from '../../problems/problems.js';
import { escapeToken } from '../../util/json-pointer.js';
import { assertAllowedUrl, type AddressPolicy } from '../../security/addresses.js';
import type { Sealer } from '../../security/sealer.js';
import { mergePatch } from '../../util/merge-patch.js';
import { aliasesUsingProvider } from '../models/store.js';
import * as store from './store.js';

/** Headers the gateway sets itself on every upstream call: a provider may not override them. */
const RESERVED_HEADERS = new Set([
  'authorization',
  'x-api-key',
  'host',
  'content-length',
  'content-type',
  'connection',
  'transfer-encoding',
  'accept-encoding',
]);

function assertHeadersAllowed(headers: store.ProviderHeaders) {
  const errors = Object.keys(headers)
    .filter((name) => RESERVED_HEADERS.has(name.toLowerCase()))
    .map((name) => ({ pointer: `/headers/${escapeToken(name)}`, in: 'body' as const, detail: `${name} is set by the gateway and cannot be configured.` }));
  if (errors.length) throw new ProblemError('validation-error', errors.map((e) => e.detail).join(' '), { errors });
}

export function modelProviderHandlers(sealer: Sealer, policy: AddressPolicy) {
  const assertReachable = (url: string) =>
    assertAllowedUrl(
      url,
      policy,
      'List the address in MODEL_PROVIDER_ALLOWED_ADDRESSES, or set MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES=true (for example for a local Ollama), to allow it.',
      '/baseUrl',
    );
  const providerIn = (db: Parameters<typeof store.getProviderRow>[0], applicationId: string, id: string, forUpdate = false) =>
    store.getProviderRow(db, { id, application_id: applicationId }, { forUpdate });

  return defineHandlers({
    listModelProviders: async ({ db, auth, query }) => ({ status: 200, body: await store.listProviders(db, auth.applicationId, query) }),

    createModelProvider: async ({ db, auth, body }) => {
      const baseUrl = body.baseUrl ?? store.DEFAULT_BASE_URLS[body.kind];
      if (!baseUrl) {
        const detail = 'An openai-compatible provider needs a baseUrl (for example http://127.0.0.1:11434/v1 for a local Ollama).';
        throw new ProblemError('validation-error', detail, { errors: [{ pointer: '/baseUrl', in: 'body', detail }] });
      }
      assertHeadersAllowed(body.headers ?? {});
      await assertReachable(baseUrl);
      const row = await store.insertProvider(db, sealer, auth.applicationId, {
        name: body.name,
        kind: body.kind,
        baseUrl,
        credential: body.credential ?? null,
        headers: body.headers ?? {},
        timeoutSeconds: body.timeoutSeconds ?? 60,
      });
      const provider = store.toModelProvider(row);
      return { status: 201, body: provider, headers: { Location: `/api/v1/model-providers/${provider.id}` } };
    },

    getModelProvider: async ({ db, auth, path }) => ({
      status: 200,
      body: store.toModelProvider(await providerIn(db, auth.applicationId, path.modelProviderId)),
    }),

    updateModelProvider: async ({ db, auth, path, body, checkIfMatch }) => {
      const row = await providerIn(db, auth.applicationId, path.modelProviderId, true);
      const current = store.toModelProvider(row);
      checkIfMatch(current);
      const { credential, ...rest } = body;
      // headers is replaced as a whole, not merged member by member.
      const next = {
        ...mergePatch({ name: current.name, baseUrl: current.baseUrl, timeoutSeconds: current.timeoutSeconds }, rest),
        headers: rest.headers ?? current.headers,
      };
      assertHeadersAllowed(next.headers);
      if (next.baseUrl !== current.baseUrl) await assertReachable(next.baseUrl);
      await store.updateProvider(db, sealer, row, { ...next, credential });
      return { status: 200, body: store.toModelProvider(await providerIn(db, auth.applicationId, row.id)) };
    },

    deleteModelProvider: async ({ db, auth, path, checkIfMatch }) => {
      const row = await providerIn(db, auth.applicationId, path.modelProviderId, true);
      checkIfMatch(store.toModelProvider(row));
      const aliases = await aliasesUsingProvider(db, row.id);
      if (aliases.length) {
        throw new ProblemError(
          'conflict',
          `Model provider ${row.id} is used by the model aliases ${aliases.map((a) => `"${a}"`).join(', ')}: delete them or move them to another provider first.`,
        );
      }
      await store.deleteProvider(db, row.id);
      return { status: 204, body: undefined };
    },
  });
}
