// 5. dispatch: a runner waits in a long-poll claim; the time from POST /api/v1/runs answering to
// that claim returning the run, for 1,000 runs one after the other. Each claimed run is completed
// at once, so the agent's concurrency limit never holds a run back.
import { randomUUID } from 'node:crypto';
import { RUN_AGENT_BODY, registerRunner } from '../lib/fixtures.mjs';
import { apiClient, newAgent, now, request } from '../lib/http.mjs';
import { startSwitchboard } from '../lib/processes.mjs';
import { latencyRounds } from '../lib/stats.mjs';

export const name = 'dispatch';
export const description = "POST /api/v1/runs answered -> a waiting runner's long-poll claim (wait=30) returns it; 1,000 runs in sequence, each completed";

/** How long the runner's claim is given to reach the server and start waiting before the run is created. */
const SETTLE_MS = 5;

export async function run({ settings, log }) {
  const server = await startSwitchboard();
  try {
    const api = apiClient(server.url, server.key);
    const agent = await api.create('/api/v1/agents', RUN_AGENT_BODY);
    const runner = await registerRunner(api);
    const runnerAgent = newAgent();
    const apiAgent = newAgent();
    const runBody = JSON.stringify({ agentId: agent.id });

    /** One dispatch; returns { fromAnswer, fromSend } in ms. */
    const once = async () => {
      const claim = request(`${server.url}/api/v1/runners/${runner.id}/claims?wait=30`, {
        method: 'POST',
        agent: runnerAgent,
        headers: { Authorization: `Bearer ${runner.token}` },
      });
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const sent = now();
      const created = await request(`${server.url}/api/v1/runs`, {
        method: 'POST',
        agent: apiAgent,
        body: runBody,
        headers: { Authorization: `Bearer ${server.key}`, 'Idempotency-Key': randomUUID() },
      });
      if (created.status !== 201) throw new Error(`createRun answered ${created.status}: ${created.text}`);
      const claimed = await claim;
      if (claimed.status !== 200) throw new Error(`claimRun answered ${claimed.status}: ${claimed.text}`);
      const { run, lease } = claimed.json();
      if (run.id !== created.json().id) throw new Error(`claimed ${run.id}, not the run just created`);
      const done = await request(`${server.url}/api/v1/leases/${lease.id}/complete`, {
        method: 'POST',
        agent: runnerAgent,
        body: { fencingToken: lease.fencingToken, status: 'succeeded', output: {} },
        headers: { Authorization: `Bearer ${runner.token}` },
      });
      if (done.status !== 200) throw new Error(`completeRun answered ${done.status}: ${done.text}`);
      return { fromAnswer: claimed.at - created.at, fromSend: claimed.at - sent };
    };

    for (let i = 0; i < settings.dispatchWarmup; i++) await once();
    const { rounds, p50, p99 } = await latencyRounds({
      rounds: settings.rounds,
      count: settings.dispatches,
      once,
      log,
      note: (fromAnswer) => {
        const early = fromAnswer.filter((x) => x < 0).length;
        return { claimBeforeAnswer: early, line: ` (${early} claims returned before the create answered)` };
      },
    });
    return {
      rows: [
        { measure: 'p50 create-answered -> claim', unit: 'ms', ...p50, target: '< 10 ms', met: p50.median < 10 },
        { measure: 'p99 create-answered -> claim', unit: 'ms', ...p99, target: '< 50 ms', met: p99.median < 50 },
      ],
      details: { dispatches: settings.dispatches, settleMs: SETTLE_MS, rounds, serverErrors: server.errors().length },
    };
  } finally {
    await server.stop();
  }
}
