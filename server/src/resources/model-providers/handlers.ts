import type { Executor } from '../../db/database.js';
import { defineHandlers } from '../handler-types.js';
import { ProblemError } from '../../problems/problems.js';
import { escapeToken } from '../../util/json-pointer.js';
import { assertAllowedUrl, type AddressPolicy } from '../../security/addresses.js';
import type { Sealer } from '../../security/sealer.js';
import { mergePatch } from '../../util/merge-patch.js';
import { aliasesUsingProvider } from '../models/store.js';
import * as store from './store.js';

type Issue = { pointer: string; in: 'body'; detail: string };

const invalid = (issues: Issue[]) => new ProblemError('validation-error', issues.map((i) => i.detail).join(' '), { errors: issues });

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

/** Reserved names are refused, and so is a name given twice in different cases: HTTP would send both, in no set order. */
function assertHeadersAllowed(headers: store.ProviderHeaders) {
  const seen = new Map<string, string>();
  const issues: Issue[] = [];
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    const pointer = `/headers/${escapeToken(name)}`;
    if (RESERVED_HEADERS.has(lower)) issues.push({ pointer, in: 'body', detail: `${name} is set by the gateway and cannot be configured.` });
    else if (seen.has(lower))
      issues.push({ pointer, in: 'body', detail: `${name} is the header ${seen.get(lower)} again: header names are case-insensitive.` });
    seen.set(lower, name);
  }
  if (issues.length) throw invalid(issues);
}

/**
 * The base URL as stored, without a trailing `/` (the gateway appends `/chat/completions` and the
 * like). A user name or password would be returned with the provider, and a query or fragment
 * would end up in the middle of every URL the gateway builds: both are refused.
 */
function normaliseBaseUrl(raw: string): string {
  const refuse = (detail: string) => invalid([{ pointer: '/baseUrl', in: 'body', detail }]);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse(`${raw} is not a URL the gateway can call: it needs a host.`);
  }
  if (url.username || url.password) throw refuse("The base URL may not hold a user name or password: put the provider's key in credential.");
  if (/[?#]/.test(raw)) throw refuse('The base URL may not have a query or fragment: the gateway appends the route (/chat/completions, ...) to its path.');
  return raw.replace(/\/+$/, '');
}

export function modelProviderHandlers(sealer: Sealer, policy: AddressPolicy) {
  const assertReachable = (url: string) =>
    assertAllowedUrl(
      url,
      policy,
      'List the address in MODEL_PROVIDER_ALLOWED_ADDRESSES, or set MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES=true (for example for a local Ollama), to allow it.',
      '/baseUrl',
    );
  const providerIn = (db: Executor, applicationId: string, id: string, forUpdate = false) =>
    store.getProviderRow(db, { id, application_id: applicationId }, { forUpdate });

  return defineHandlers({
    listModelProviders: async ({ db, auth, query }) => ({ status: 200, body: await store.listProviders(db, auth.applicationId, query) }),

    createModelProvider: async ({ db, auth, body }) => {
      const given = body.baseUrl ?? store.DEFAULT_BASE_URLS[body.kind];
      if (!given) {
        const detail = 'An openai-compatible provider needs a baseUrl (for example http://127.0.0.1:11434/v1 for a local Ollama).';
        throw invalid([{ pointer: '/baseUrl', in: 'body', detail }]);
      }
      const baseUrl = normaliseBaseUrl(given);
      const headers = body.headers ?? {};
      assertHeadersAllowed(headers);
      await assertReachable(baseUrl);
      const row = await store.insertProvider(db, sealer, auth.applicationId, {
        name: body.name,
        kind: body.kind,
        baseUrl,
        credential: body.credential ?? null,
        headers,
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
      const { credential, headers, ...rest } = body;
      const next = mergePatch({ name: current.name, baseUrl: current.baseUrl, timeoutSeconds: current.timeoutSeconds }, rest);
      // headers is replaced as a whole, not merged member by member: what is sent is the new set.
      const nextHeaders = headers ?? current.headers;
      assertHeadersAllowed(nextHeaders);
      const baseUrl = next.baseUrl === current.baseUrl ? current.baseUrl : normaliseBaseUrl(next.baseUrl);
      if (baseUrl !== current.baseUrl) await assertReachable(baseUrl);
      await store.updateProvider(db, sealer, row, { ...next, baseUrl, headers: nextHeaders, credential });
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
