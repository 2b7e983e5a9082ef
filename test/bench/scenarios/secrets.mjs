// secrets: what secrets cost a run's runner. A run is queued, then timed: its claim (wait=0), which
// decrypts and logs the secrets its agent references, and the completion of its lease, whose body
// is scanned for those values (redaction). For an agent referencing 3 secrets and one referencing
// none, alternately, 1,000 runs each, one after the other.
import { RUN_AGENT_BODY, registerRunner } from '../lib/fixtures.mjs';
import { apiClient, newAgent, now, request } from '../lib/http.mjs';
import { startSwitchboard } from '../lib/processes.mjs';
import { aggregate, summarize } from '../lib/stats.mjs';

export const name = 'secrets';
export const description = 'claimRun (wait=0) and completeRun of a queued run whose agent references 3 secrets vs none; 1,000 runs each, in sequence';

const NAMES = ['BENCH_API_KEY', 'BENCH_DB_PASSWORD', 'BENCH_WEBHOOK_TOKEN'];

export async function run({ settings, log }) {
  const server = await startSwitchboard();
  try {
    const api = apiClient(server.url, server.key);
    for (const secret of NAMES) await api.create('/api/v1/secrets', { name: secret, value: `${secret.toLowerCase()}-${'x'.repeat(32)}` });
    const agents = {
      none: await api.create('/api/v1/agents', RUN_AGENT_BODY),
      three: await api.create('/api/v1/agents', { ...RUN_AGENT_BODY, secrets: NAMES }),
    };
    const runner = await registerRunner(api);
    const runnerAgent = newAgent();
    const auth = { Authorization: `Bearer ${runner.token}` };
    // What an echoing run writes back: a few hundred bytes of text, like a short answer.
    const output = { answer: 'The ticket is about billing. '.repeat(10), steps: 3 };

    /** One run of `agent`: the claim's and the completion's time, in ms. */
    const once = async (agent, expected) => {
      await api.create('/api/v1/runs', { agentId: agent.id });
      const asked = now();
      const claimed = await request(`${server.url}/api/v1/runners/${runner.id}/claims?wait=0`, { method: 'POST', agent: runnerAgent, headers: auth });
      if (claimed.status !== 200) throw new Error(`claimRun answered ${claimed.status}: ${claimed.text}`);
      const { lease, secrets } = claimed.json();
      if (Object.keys(secrets).length !== expected) throw new Error(`the claim delivered ${Object.keys(secrets).length} secrets, not ${expected}`);
      const completing = now();
      const done = await request(`${server.url}/api/v1/leases/${lease.id}/complete`, {
        method: 'POST',
        agent: runnerAgent,
        body: { fencingToken: lease.fencingToken, status: 'succeeded', output },
        headers: auth,
      });
      if (done.status !== 200) throw new Error(`completeRun answered ${done.status}: ${done.text}`);
      return { claim: claimed.at - asked, complete: done.at - completing };
    };

    for (let i = 0; i < settings.dispatchWarmup; i++) {
      await once(agents.none, 0);
      await once(agents.three, 3);
    }
    const rounds = [];
    for (let r = 0; r < settings.rounds; r++) {
      const samples = { none: { claim: [], complete: [] }, three: { claim: [], complete: [] } };
      for (let i = 0; i < settings.dispatches; i++) {
        for (const [kind, count] of [
          ['none', 0],
          ['three', 3],
        ]) {
          const d = await once(agents[kind], count);
          samples[kind].claim.push(d.claim);
          samples[kind].complete.push(d.complete);
        }
      }
      const round = Object.fromEntries(Object.entries(samples).map(([kind, s]) => [kind, { claim: summarize(s.claim), complete: summarize(s.complete) }]));
      rounds.push(round);
      log(
        `    round ${r + 1}: claim p50 ${round.none.claim.p50.toFixed(2)} ms (none) vs ${round.three.claim.p50.toFixed(2)} ms (3 secrets); ` +
          `complete p50 ${round.none.complete.p50.toFixed(2)} vs ${round.three.complete.p50.toFixed(2)} ms`,
      );
    }
    const of = (kind, step, p) => aggregate(rounds.map((r) => r[kind][step][p]));
    const claimThree = of('three', 'claim', 'p50');
    const claimNone = of('none', 'claim', 'p50');
    return {
      rows: [
        { measure: 'p50 claim, no secrets', unit: 'ms', ...claimNone },
        { measure: 'p50 claim, 3 secrets', unit: 'ms', ...claimThree, target: '< no secrets + 2 ms', met: claimThree.median < claimNone.median + 2 },
        { measure: 'p99 claim, no secrets', unit: 'ms', ...of('none', 'claim', 'p99') },
        { measure: 'p99 claim, 3 secrets', unit: 'ms', ...of('three', 'claim', 'p99') },
        { measure: 'p50 complete, no secrets', unit: 'ms', ...of('none', 'complete', 'p50') },
        { measure: 'p50 complete, 3 secrets (redacted)', unit: 'ms', ...of('three', 'complete', 'p50') },
      ],
      details: { runsPerAgent: settings.dispatches, rounds, serverErrors: server.errors().length },
    };
  } finally {
    await server.stop();
  }
}
