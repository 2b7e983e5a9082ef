import { ProblemError } from '../../problems/problems.js';
import { METRICS_CONTENT_TYPE, tokenMatches, type MetricsExposition } from '../../observability/exposition.js';
import { defineHandlers } from '../handler-types.js';

/** `GET /metrics` on the API's port: only with METRICS_TOKEN, only for a request that sends it. */
export function metricsHandlers(exposition: MetricsExposition | undefined) {
  return defineHandlers({
    getMetrics: async ({ ctx }) => {
      const token = exposition?.token;
      if (!exposition || token === undefined) throw new ProblemError('not-found', 'No route GET /metrics: metrics are not served on this port.');
      const presented = /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('authorization'))?.[1];
      if (presented === undefined || !tokenMatches(presented, token)) {
        throw new ProblemError('unauthorized', 'Send the metrics token (METRICS_TOKEN) as Authorization: Bearer <token>.');
      }
      let text: string;
      try {
        text = await exposition.render();
      } catch {
        throw new ProblemError('not-ready', 'The metrics could not be collected; try again.');
      }
      return { status: 200, body: text, contentType: METRICS_CONTENT_TYPE };
    },
  });
}
