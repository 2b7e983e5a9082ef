import { isAncestorOrSelf } from '../../db/trees.js';
import { ProblemError } from '../../problems/problems.js';
import { mergePatch } from '../../util/merge-patch.js';
import { defineHandlers } from '../handler-types.js';
import { assertAssignable, isNewAssignee } from '../tasks/assignees.js';
import { recordEvent } from '../webhooks/outbox.js';
import { goalMachine } from './state-machine.js';
import * as store from './store.js';

export const goalHandlers = defineHandlers({
  listGoals: async ({ db, auth, query }) => ({ status: 200, body: await store.listGoals(db, auth.applicationId, query) }),

  createGoal: async ({ db, auth, body }) => {
    const fields: store.GoalFields = {
      title: body.title,
      description: body.description ?? null,
      status: body.status ?? 'planned',
      owner: body.owner ?? null,
      parentId: body.parentId ?? null,
      targetDate: body.targetDate ?? null,
      metadata: body.metadata ?? {},
    };
    if (fields.owner) await assertAssignable(db, auth, fields.owner, '/owner');
    if (fields.parentId) await store.assertGoalExists(db, auth.applicationId, fields.parentId);
    const goal = await store.getGoal(db, auth.applicationId, await store.insertGoal(db, auth.applicationId, fields));
    await recordEvent(db, auth.applicationId, 'goal.created', goal);
    return { status: 201, body: goal, headers: { Location: `/api/v1/goals/${goal.id}` } };
  },

  getGoal: async ({ db, auth, path }) => ({ status: 200, body: await store.getGoal(db, auth.applicationId, path.goalId) }),

  updateGoal: async ({ db, auth, path, body, checkIfMatch }) => {
    const current = await store.getGoal(db, auth.applicationId, path.goalId, { forUpdate: true });
    checkIfMatch(current);
    const { title, description, status, owner, parentId, targetDate, metadata } = current;
    const patched = mergePatch({ title, description, status, owner, parentId, targetDate, metadata }, body);
    // A merge patch's null removes the key: what may be empty is empty again.
    const next: store.GoalFields = {
      ...patched,
      description: patched.description ?? null,
      owner: patched.owner ?? null,
      parentId: patched.parentId ?? null,
      targetDate: patched.targetDate ?? null,
    };
    if (next.status !== current.status) goalMachine.assertTransition(next.status, current.status);
    if (isNewAssignee(next.owner, current.owner)) await assertAssignable(db, auth, next.owner, '/owner');
    if (next.parentId && next.parentId !== current.parentId) {
      await store.assertGoalExists(db, auth.applicationId, next.parentId);
      if (await isAncestorOrSelf(db, 'goals', current.id, next.parentId)) {
        const detail = `Goal ${next.parentId} is ${next.parentId === current.id ? 'the goal itself' : 'one of its sub-goals'}: it cannot be its parent.`;
        throw new ProblemError('validation-error', detail, { errors: [{ pointer: '/parentId', in: 'body', detail }] });
      }
    }
    await store.updateGoal(db, current.id, next);
    const goal = await store.getGoal(db, auth.applicationId, current.id);
    await recordEvent(db, auth.applicationId, 'goal.updated', goal);
    return { status: 200, body: goal };
  },

  deleteGoal: async ({ db, auth, path, checkIfMatch }) => {
    const current = await store.getGoal(db, auth.applicationId, path.goalId, { forUpdate: true });
    checkIfMatch(current);
    await store.deleteGoal(db, current.id);
    await recordEvent(db, auth.applicationId, 'goal.deleted', current);
    return { status: 204, body: undefined };
  },
});
