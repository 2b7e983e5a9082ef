import { ProblemError } from '../../problems/problems.js';
import { defineHandlers } from '../handler-types.js';
import { dashboardOf } from './numbers.js';

export function dashboardHandlers(leaseSeconds: number) {
  return defineHandlers({
    getDashboard: async ({ db, auth }) => {
      // The numbers are the whole application's: nothing for a request made for one end-user.
      if (auth.endUserId) throw new ProblemError('forbidden', "The dashboard counts the whole application's work: it is not shown for one end-user.");
      return { status: 200, body: await dashboardOf(db, auth.applicationId, leaseSeconds) };
    },
  });
}
