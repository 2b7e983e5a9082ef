import { rowsSeenBy } from '../../auth/identity.js';
import { hasScope } from '../../auth/roles.js';
import { ProblemError } from '../../problems/problems.js';
import { defineHandlers } from '../handler-types.js';
import type { RunEventBus } from '../runs/events.js';
import * as store from './store.js';
import { askPerson, decide } from './waits.js';
import { actorOf, assertMayDecide, deciderMatch } from './deciders.js';

export const approvalHandlers = (bus: RunEventBus) =>
  defineHandlers({
    createRunApproval: async ({ db, auth, run, path, body, afterCommit }) => {
      if (!run) throw new ProblemError('forbidden', 'Only the run itself asks, with its run token.');
      const { approval, events } = await askPerson(db, { ...run, organizationId: auth.organizationId }, path.runId, body);
      afterCommit(() => bus.publish(events));
      return { status: 201, body: approval, headers: { Location: `/api/v1/approvals/${approval.id}` } };
    },

    listApprovals: async ({ db, auth, query }) => ({ status: 200, body: await store.listApprovals(db, rowsSeenBy(auth), query) }),

    getApproval: async ({ db, auth, path }) => {
      return { status: 200, body: store.toApproval(await store.getApprovalRow(db, rowsSeenBy(auth), path.approvalId)) };
    },

    decideApproval: async ({ db, auth, path, body, afterCommit }) => {
      const row = await store.getApprovalRow(db, rowsSeenBy(auth), path.approvalId);
      assertMayDecide(auth, store.toApproval(row));
      // Letting a run past a budget is changing the budget: what budget writes need.
      if (row.kind === 'budget' && !hasScope(auth.scopes, 'admin'))
        throw new ProblemError('forbidden', `Approval ${row.id} lets a run past a budget: deciding it needs the "admin" scope, as changing budgets does.`);
      const { approval, events } = await decide(db, row, body, actorOf(auth));
      afterCommit(() => bus.publish(events));
      return { status: 200, body: approval };
    },

    listApprovalComments: async ({ db, auth, path, query }) => {
      const row = await store.getApprovalRow(db, rowsSeenBy(auth), path.approvalId);
      return { status: 200, body: await store.listComments(db, row.id, query) };
    },

    createApprovalComment: async ({ db, auth, path, body, afterCommit }) => {
      const row = await store.getApprovalRow(db, rowsSeenBy(auth), path.approvalId);
      const author = actorOf(auth);
      const wake = body.wake ?? false;
      if (wake) {
        const approval = store.toApproval(row);
        if (approval.kind !== 'approval')
          throw new ProblemError(
            'validation-error',
            'Only a pending approval can be woken with a comment (it requests changes); answer an input request instead.',
            { errors: [{ pointer: '/wake', detail: 'Only an approval (kind approval) can be woken with a comment.' }] },
          );
        assertMayDecide(auth, approval);
        const { events } = await decide(db, row, { outcome: 'request_changes', note: body.body }, author);
        afterCommit(() => bus.publish(events));
      }
      const comment = await store.insertComment(db, row.id, body.body, author, wake);
      return { status: 201, body: comment };
    },

    listInbox: async ({ db, auth, query }) => ({ status: 200, body: await store.listDecidable(db, rowsSeenBy(auth), deciderMatch(auth), query) }),
  });
