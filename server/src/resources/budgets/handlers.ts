import type { AuthContext } from '../../auth/identity.js';
import type { Executor } from '../../db/database.js';
import { notFound, ProblemError } from '../../problems/problems.js';
import { getAgent } from '../agents/store.js';
import { getApiKey } from '../api-keys/store.js';
import { getEndUser } from '../end-users/store.js';
import { defineHandlers } from '../handler-types.js';
import { isMember } from '../members/store.js';
import * as store from './store.js';

const PREFIXES: Record<store.BudgetScope['type'], string | null> = { application: null, agent: 'agent_', end_user: 'eu_', api_key: 'key_', user: 'user_' };

/** 422 unless the scope names what its type says (nothing for the application); 404 unless that is the application's (a person: the organization's). */
async function assertScope(db: Executor, auth: AuthContext, scope: store.BudgetScope): Promise<void> {
  const prefix = PREFIXES[scope.type];
  if (prefix === null ? scope.id !== null : !scope.id?.startsWith(prefix)) {
    const detail = prefix === null ? 'An application budget names no id: send null.' : `A budget on ${scope.type.replace('_', '-')} names its ${prefix}... id.`;
    throw new ProblemError('validation-error', detail, { errors: [{ pointer: '/scope/id', in: 'body', detail }] });
  }
  if (!scope.id) return;
  if (scope.type === 'agent') await getAgent(db, auth.applicationId, scope.id);
  else if (scope.type === 'end_user') await getEndUser(db, auth.applicationId, scope.id);
  else if (scope.type === 'api_key') await getApiKey(db, auth.applicationId, scope.id);
  else if (!(await isMember(db, auth.organizationId, scope.id))) throw notFound('user', scope.id);
}

export const budgetHandlers = defineHandlers({
  listBudgets: async ({ db, auth, query }) => ({ status: 200, body: await store.listBudgets(db, auth.applicationId, query) }),

  createBudget: async ({ db, auth, body }) => {
    await assertScope(db, auth, body.scope);
    const row = await store.insertBudget(db, auth.applicationId, {
      name: body.name,
      scope: body.scope,
      window: body.window,
      amountMicros: body.amountMicros,
      thresholds: body.thresholds ?? store.DEFAULT_THRESHOLDS,
      runReservationMicros: body.runReservationMicros ?? 0,
      onExhausted: body.onExhausted ?? 'reject',
    });
    const budget = await store.withStatus(db, row);
    return { status: 201, body: budget, headers: { Location: `/api/v1/budgets/${budget.id}` } };
  },

  getBudget: async ({ db, auth, path }) => ({ status: 200, body: await store.withStatus(db, await store.getBudgetRow(db, auth.applicationId, path.budgetId)) }),

  updateBudget: async ({ db, auth, path, body, checkIfMatch }) => {
    const row = await store.getBudgetRow(db, auth.applicationId, path.budgetId, { forUpdate: true });
    checkIfMatch(await store.withStatus(db, row));
    const next = await store.updateBudget(db, row, body);
    return { status: 200, body: await store.withStatus(db, next) };
  },

  deleteBudget: async ({ db, auth, path, checkIfMatch }) => {
    const row = await store.getBudgetRow(db, auth.applicationId, path.budgetId, { forUpdate: true });
    checkIfMatch(await store.withStatus(db, row));
    await db('budgets').where({ id: row.id }).delete();
    return { status: 204, body: undefined };
  },
});
