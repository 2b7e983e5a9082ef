import { mergePatch } from '../../util/merge-patch.js';
import { assertGoalExists } from '../goals/store.js';
import { defineHandlers } from '../handler-types.js';
import { assertAssignable, isNewAssignee } from '../tasks/assignees.js';
import { recordEvent } from '../webhooks/outbox.js';
import { projectMachine } from './state-machine.js';
import * as store from './store.js';

export const projectHandlers = defineHandlers({
  listProjects: async ({ db, auth, query }) => ({ status: 200, body: await store.listProjects(db, auth.applicationId, query) }),

  createProject: async ({ db, auth, body }) => {
    const fields: store.ProjectFields = {
      name: body.name,
      description: body.description ?? null,
      status: body.status ?? 'planned',
      lead: body.lead ?? null,
      goalId: body.goalId ?? null,
      targetDate: body.targetDate ?? null,
      metadata: body.metadata ?? {},
    };
    if (fields.lead) await assertAssignable(db, auth, fields.lead, '/lead');
    if (fields.goalId) await assertGoalExists(db, auth.applicationId, fields.goalId);
    const project = await store.getProject(db, auth.applicationId, await store.insertProject(db, auth.applicationId, fields));
    await recordEvent(db, auth.applicationId, 'project.created', project);
    return { status: 201, body: project, headers: { Location: `/api/v1/projects/${project.id}` } };
  },

  getProject: async ({ db, auth, path }) => ({ status: 200, body: await store.getProject(db, auth.applicationId, path.projectId) }),

  updateProject: async ({ db, auth, path, body, checkIfMatch }) => {
    const current = await store.getProject(db, auth.applicationId, path.projectId, { forUpdate: true });
    checkIfMatch(current);
    const { name, description, status, lead, goalId, targetDate, metadata } = current;
    const patched = mergePatch({ name, description, status, lead, goalId, targetDate, metadata }, body);
    // A merge patch's null removes the key: what may be empty is empty again.
    const next: store.ProjectFields = {
      ...patched,
      description: patched.description ?? null,
      lead: patched.lead ?? null,
      goalId: patched.goalId ?? null,
      targetDate: patched.targetDate ?? null,
    };
    if (next.status !== current.status) projectMachine.assertTransition(next.status, current.status);
    if (isNewAssignee(next.lead, current.lead)) await assertAssignable(db, auth, next.lead, '/lead');
    if (next.goalId && next.goalId !== current.goalId) await assertGoalExists(db, auth.applicationId, next.goalId);
    await store.updateProject(db, current.id, next);
    const project = await store.getProject(db, auth.applicationId, current.id);
    await recordEvent(db, auth.applicationId, 'project.updated', project);
    return { status: 200, body: project };
  },

  deleteProject: async ({ db, auth, path, checkIfMatch }) => {
    const current = await store.getProject(db, auth.applicationId, path.projectId, { forUpdate: true });
    checkIfMatch(current);
    await store.deleteProject(db, current.id);
    await recordEvent(db, auth.applicationId, 'project.deleted', current);
    return { status: 204, body: undefined };
  },
});
