// 12. approval-resume: a run asks a person (its run token), waits holding no lease; a runner waits
// in a long-poll claim; the time from the decision answering to that claim returning the resumed
// run (with `resume`), for 1,000 runs one after the other, each completed once resumed.
import { randomUUID } from 'node:crypto';
import { registerRunner } from '../lib/fixtures.mjs';
import { apiClient, newAgent, now, request } from '../lib/http.mjs';
import { startSwitchboard } from '../lib/processes.mjs';
import { latencyRounds } from '../lib/stats.mjs';

export const name = 'approval-resume';
export const description = "a waiting run's approval decided -> a waiting runner's long-poll claim (wait=30) resumes it; 1,000 runs in sequence";

/** How long the runner's claim is given to reach the server and start waiting before the decision. */
const SETTLE_MS = 5;

export async function run({ settings, log }) {
  const server = await startSwitchboard();
  try {
    const api = apiClient(server.url, server.key);
    const agent = await api.create('/api/v1/agents', { name: 'bench approvals', model: 'echo' });
    const runner = await registerRunner(api);
    const runnerAgent = newAgent();
    const apiAgent = newAgent();
    const post = (path, token, body, agentPool = apiAgent) =>
      request(`${server.url}${path}`, {
        method: 'POST',
        agent: agentPool,
        body,
        headers: { Authorization: `Bearer ${token}`, 'Idempotency-Key': randomUUID() },
      });
    const expect = (reply, status, what) => {
      if (reply.status !== status) throw new Error(`${what} answered ${reply.status}: ${reply.text}`);
      return reply.json();
    };

    /** One wait and its resumption; returns { fromAnswer, fromSend } in ms. */
    const once = async () => {
      const created = expect(await post('/api/v1/runs', server.key, { agentId: agent.id }), 201, 'createRun');
      const first = expect(await post(`/api/v1/runners/${runner.id}/claims?wait=5`, runner.token, undefined, runnerAgent), 200, 'claimRun');
      if (first.run.id !== created.id) throw new Error(`claimed ${first.run.id}, not ${created.id}`);
      const approval = expect(await post(`/api/v1/runs/${created.id}/approvals`, first.runToken.token, { title: 'Go on?' }), 201, 'createRunApproval');
      const claim = request(`${server.url}/api/v1/runners/${runner.id}/claims?wait=30`, {
        method: 'POST',
        agent: runnerAgent,
        headers: { Authorization: `Bearer ${runner.token}` },
      });
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const sent = now();
      const decided = await post(`/api/v1/approvals/${approval.id}/decisions`, server.key, { outcome: 'approve' });
      expect(decided, 200, 'decideApproval');
      const claimed = await claim;
      const { run, lease, resume } = expect(claimed, 200, 'claimRun');
      if (run.id !== created.id || resume?.status !== 'approved') throw new Error(`claimed ${run.id} with resume ${JSON.stringify(resume)}`);
      expect(
        await post(`/api/v1/leases/${lease.id}/complete`, runner.token, { fencingToken: lease.fencingToken, status: 'succeeded', output: {} }, runnerAgent),
        200,
        'completeRun',
      );
      return { fromAnswer: claimed.at - decided.at, fromSend: claimed.at - sent };
    };

    for (let i = 0; i < settings.dispatchWarmup; i++) await once();
    const { rounds, p50, p99 } = await latencyRounds({ rounds: settings.rounds, count: settings.dispatches, once, log });
    return {
      rows: [
        { measure: 'p50 decision-answered -> resumed claim', unit: 'ms', ...p50, target: '< 10 ms', met: p50.median < 10 },
        { measure: 'p99 decision-answered -> resumed claim', unit: 'ms', ...p99, target: '< 50 ms', met: p99.median < 50 },
      ],
      details: { resumptions: settings.dispatches, settleMs: SETTLE_MS, rounds, serverErrors: server.errors().length },
    };
  } finally {
    await server.stop();
  }
}
