import { ProblemError } from '../../problems/problems.js';
import { defineHandlers } from '../handler-types.js';
import { assertRunHoldsLease } from '../runs/leases.js';
import { recordRunReport } from './reports.js';
import { toUsageEvent } from './store.js';

export const usageHandlers = defineHandlers({
  reportRunUsage: async ({ db, run, path, body }) => {
    if (!run) throw new ProblemError('forbidden', 'Only the run itself reports its usage, with its run token.');
    if (path.runId !== run.runId) throw new ProblemError('forbidden', `A run token reports only for its own run; this one is for ${run.runId}.`);
    if (body.cachedInputTokens !== undefined && body.cachedInputTokens > (body.inputTokens ?? 0)) {
      const detail = 'Cached input tokens are part of the input tokens: at most inputTokens.';
      throw new ProblemError('validation-error', 'The report counts more cached tokens than input tokens.', {
        errors: [{ pointer: '/cachedInputTokens', in: 'body', detail }],
      });
    }
    // Locked for update: recording the usage locks the run's row again, to add it to a run that ended.
    await assertRunHoldsLease(db, run, 'update');
    const { row, created } = await recordRunReport(db, run, body);
    return { status: created ? 201 : 200, body: toUsageEvent(row) };
  },
});
