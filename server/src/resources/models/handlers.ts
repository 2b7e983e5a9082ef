import type { Executor } from '../../db/database.js';
import { defineHandlers } from '../handler-types.js';
import { ProblemError } from '../../problems/problems.js';
import { mergePatch } from '../../util/merge-patch.js';
import { getProviderRow, type ProviderKind } from '../model-providers/store.js';
import * as store from './store.js';

type Issue = { pointer: string; in: 'body'; detail: string };

/** `messages` is Anthropic's API; the others are OpenAI's, which OpenAI-compatible servers speak too. */
const servesApi = (kind: ProviderKind, api: store.ModelApi) => (api === 'messages') === (kind === 'anthropic');

/** The rules that span rows: the provider is the application's and speaks the API; fallbacks exist, serve the same API and are not the alias itself. */
async function assertConsistent(db: Executor, applicationId: string, input: store.ModelInput, pointerOf: (field: string) => string): Promise<void> {
  const provider = await getProviderRow(db, { id: input.providerId, application_id: applicationId }).catch((err: unknown) => {
    if (err instanceof ProblemError && err.code === 'not-found') {
      const detail = `No model provider with id ${input.providerId} in this application.`;
      throw new ProblemError('validation-error', detail, { errors: [{ pointer: pointerOf('providerId'), in: 'body', detail }] });
    }
    throw err;
  });
  const issues: Issue[] = [];
  if (!servesApi(provider.kind, input.api)) {
    issues.push({
      pointer: pointerOf('api'),
      in: 'body',
      detail:
        input.api === 'messages'
          ? `The "messages" API needs an anthropic provider; ${provider.id} is ${provider.kind}.`
          : `The "${input.api}" API needs an openai or openai-compatible provider; ${provider.id} is anthropic (use "messages").`,
    });
  }
  const fallbacks = await store.modelsByAlias(db, applicationId, input.fallbacks);
  input.fallbacks.forEach((alias, i) => {
    const fallback = fallbacks.get(alias);
    const pointer = `${pointerOf('fallbacks')}/${i}`;
    if (alias === input.alias) issues.push({ pointer, in: 'body', detail: `An alias cannot be its own fallback.` });
    else if (!fallback) issues.push({ pointer, in: 'body', detail: `No model alias "${alias}" in this application.` });
    else if (fallback.api !== input.api) issues.push({ pointer, in: 'body', detail: `"${alias}" serves the ${fallback.api} API, not ${input.api}.` });
  });
  if (issues.length) throw new ProblemError('validation-error', issues.map((i) => i.detail).join(' '), { errors: issues });
}

export const modelHandlers = defineHandlers({
  listModels: async ({ db, auth, query }) => ({ status: 200, body: await store.listModels(db, auth.applicationId, query) }),

  createModel: async ({ db, auth, body }) => {
    const provider = await getProviderRow(db, { id: body.providerId, application_id: auth.applicationId }).catch(() => undefined);
    const input: store.ModelInput = {
      alias: body.alias,
      providerId: body.providerId,
      upstreamModel: body.upstreamModel,
      api: body.api ?? (provider?.kind === 'anthropic' ? 'messages' : 'chat'),
      pricing: { ...store.UNPRICED, ...body.pricing },
      contextWindow: body.contextWindow ?? null,
      maxOutputTokens: body.maxOutputTokens ?? null,
      fallbacks: body.fallbacks ?? [],
      retry: { ...store.DEFAULT_RETRY, ...body.retry },
    };
    await assertConsistent(db, auth.applicationId, input, (field) => `/${field}`);
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
    await assertConsistent(db, auth.applicationId, input, (field) => `/${field}`);
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
