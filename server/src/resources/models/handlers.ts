import type { Executor } from '../../db/database.js';
import { defineHandlers } from '../handler-types.js';
import { ProblemError } from '../../problems/problems.js';
import { mergePatch } from '../../util/merge-patch.js';
import { getProviderRow, type ProviderKind, type ProviderRow } from '../model-providers/store.js';
import * as store from './store.js';

type Issue = { pointer: string; in: 'body'; detail: string };

/** `messages` is Anthropic's API; the others are OpenAI's, which OpenAI-compatible servers speak too. */
const servesApi = (kind: ProviderKind, api: store.ModelApi) => (api === 'messages') === (kind === 'anthropic');

/**
 * The application's provider, or 404 as for one that does not exist (another application's is not
 * named as such). It is locked against a concurrent delete, which then waits for this write and
 * finds the alias using the provider (409) instead of breaking the foreign key.
 */
const providerOf = (db: Executor, applicationId: string, id: string) => getProviderRow(db, { id, application_id: applicationId }, { forShare: true });

/** The rules that span rows: the provider speaks the API; fallbacks exist, serve the same API and are not the alias itself. */
async function assertConsistent(db: Executor, applicationId: string, input: store.ModelInput, provider: ProviderRow): Promise<void> {
  const issues: Issue[] = [];
  if (!servesApi(provider.kind, input.api)) {
    issues.push({
      pointer: '/api',
      in: 'body',
      detail:
        input.api === 'messages'
          ? `The "messages" API needs an anthropic provider; ${provider.id} is ${provider.kind}.`
          : `The "${input.api}" API needs an openai or openai-compatible provider; ${provider.id} is anthropic (use "messages").`,
    });
  }
  const fallbacks = await store.modelsByAlias(db, applicationId, input.fallbacks, { forShare: true });
  input.fallbacks.forEach((alias, i) => {
    const fallback = fallbacks.get(alias);
    const pointer = `/fallbacks/${i}`;
    if (alias === input.alias) issues.push({ pointer, in: 'body', detail: `An alias cannot be its own fallback.` });
    else if (!fallback) issues.push({ pointer, in: 'body', detail: `No model alias "${alias}" in this application.` });
    else if (fallback.api !== input.api) issues.push({ pointer, in: 'body', detail: `"${alias}" serves the ${fallback.api} API, not ${input.api}.` });
  });
  if (issues.length) throw new ProblemError('validation-error', issues.map((i) => i.detail).join(' '), { errors: issues });
}

export const modelHandlers = defineHandlers({
  listModels: async ({ db, auth, query }) => ({ status: 200, body: await store.listModels(db, auth.applicationId, query) }),

  createModel: async ({ db, auth, body }) => {
    const provider = await providerOf(db, auth.applicationId, body.providerId);
    const input: store.ModelInput = {
      alias: body.alias,
      providerId: provider.id,
      upstreamModel: body.upstreamModel,
      api: body.api ?? (provider.kind === 'anthropic' ? 'messages' : 'chat'),
      pricing: { ...store.UNPRICED, ...body.pricing },
      contextWindow: body.contextWindow ?? null,
      maxOutputTokens: body.maxOutputTokens ?? null,
      fallbacks: body.fallbacks ?? [],
      retry: { ...store.DEFAULT_RETRY, ...body.retry },
    };
    await assertConsistent(db, auth.applicationId, input, provider);
    const model = store.toModel(await store.insertModel(db, auth.applicationId, input));
    return { status: 201, body: model, headers: { Location: `/api/v1/models/${model.id}` } };
  },

  getModel: async ({ db, auth, path }) => ({
    status: 200,
    body: store.toModel(await store.getModelRow(db, { id: path.modelId, application_id: auth.applicationId })),
  }),

  updateModel: async ({ db, auth, path, body, checkIfMatch }) => {
    const row = await store.getModelRow(db, { id: path.modelId, application_id: auth.applicationId }, { forUpdate: true });
    const current = store.toModel(row);
    checkIfMatch(current);
    const { id: _id, object: _object, createdAt: _c, updatedAt: _u, ...editable } = current;
    const next = mergePatch(editable, body);
    const input: store.ModelInput = {
      ...next,
      pricing: { ...store.UNPRICED, ...next.pricing },
      retry: { ...store.DEFAULT_RETRY, ...next.retry },
      contextWindow: next.contextWindow ?? null,
      maxOutputTokens: next.maxOutputTokens ?? null,
    };
    await assertConsistent(db, auth.applicationId, input, await providerOf(db, auth.applicationId, input.providerId));
    if (input.alias !== current.alias || input.api !== current.api) {
      const dependents = await store.aliasesFallingBackTo(db, auth.applicationId, current.alias);
      if (dependents.length) {
        throw new ProblemError(
          'conflict',
          `"${current.alias}" is a fallback of ${dependents.map((a) => `"${a}"`).join(', ')}: remove it from their fallbacks before renaming it or changing its API.`,
        );
      }
    }
    await store.updateModel(db, row.id, input);
    return { status: 200, body: store.toModel(await store.getModelRow(db, { id: row.id })) };
  },

  deleteModel: async ({ db, auth, path, checkIfMatch }) => {
    const row = await store.getModelRow(db, { id: path.modelId, application_id: auth.applicationId }, { forUpdate: true });
    checkIfMatch(store.toModel(row));
    const dependents = await store.aliasesFallingBackTo(db, auth.applicationId, row.alias);
    if (dependents.length) {
      throw new ProblemError(
        'conflict',
        `"${row.alias}" is a fallback of ${dependents.map((a) => `"${a}"`).join(', ')}: remove it from their fallbacks first.`,
      );
    }
    await store.deleteModel(db, row.id);
    return { status: 204, body: undefined };
  },
});
