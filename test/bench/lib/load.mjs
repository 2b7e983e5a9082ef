// The autocannon driver: one child process (lib/load-child.mjs) runs the load, so the bench's own
// process and the server under test are not sharing an event loop with the load generator.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AGENT_BODY } from './fixtures.mjs';
import { apiClient } from './http.mjs';
import { cpuSeconds } from './processes.mjs';
import { aggregate } from './stats.mjs';

const CHILD = fileURLToPath(new URL('./load-child.mjs', import.meta.url));

export async function startLoadClient() {
  const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let next = 0;
  const pending = new Map();
  child.on('message', ({ id, result, error }) => {
    const p = pending.get(id);
    pending.delete(id);
    if (error) p?.reject(new Error(error));
    else p?.resolve(result);
  });
  child.on('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`the load client exited with ${code}`));
    pending.clear();
  });
  return {
    pid: child.pid,
    /**
     * One autocannon run. Resolves with its summary plus `rps` (2xx responses per second) and the
     * CPU seconds the server (`serverPid`) and the load client used meanwhile.
     */
    run(options, serverPid) {
      const id = next++;
      const cpuBefore = serverPid ? cpuSeconds(serverPid) : undefined;
      const clientBefore = cpuSeconds(child.pid);
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, options });
      }).then((r) => {
        if (r.ok === 0) throw new Error(`no request succeeded: ${JSON.stringify(r.statusCodes)}, ${r.errors} errors`);
        return {
          ...r,
          rps: r.ok / r.duration,
          serverCpu: serverPid ? (cpuSeconds(serverPid) - cpuBefore) / r.duration : undefined,
          clientCpu: (cpuSeconds(child.pid) - clientBefore) / r.duration,
        };
      });
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** One measured run of `seconds`; fails loudly on errors or non-2xx answers: a bench that measures failures measures nothing. */
export async function measureRound(client, seconds, options, serverPid, log = () => {}, label = 'round') {
  const r = await client.run({ ...options, duration: seconds }, serverPid);
  if (r.non2xx || r.errors || r.timeouts) {
    throw new Error(`${label} against ${options.url}: ${r.non2xx} non-2xx (${JSON.stringify(r.statusCodes)}), ${r.errors} errors, ${r.timeouts} timeouts`);
  }
  log(
    `    ${label}: ${Math.round(r.rps)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, server CPU ${(r.serverCpu ?? 0).toFixed(2)}, client CPU ${r.clientCpu.toFixed(2)}`,
  );
  return r;
}

/** Warm-up, then `rounds` measured runs of `seconds` each against one target. */
export async function measureLoad(client, settings, options, serverPid, log = () => {}) {
  await client.run({ ...options, duration: settings.warmupSeconds }, serverPid);
  const rounds = [];
  for (let i = 0; i < settings.rounds; i++) rounds.push(await measureRound(client, settings.roundSeconds, options, serverPid, log, `round ${i + 1}`));
  return rounds;
}

/** Median and spread of throughput and latency over the measured rounds. */
export function summarizeRounds(rounds) {
  const pick = (f) => aggregate(rounds.map(f));
  return {
    rps: pick((r) => r.rps),
    p50: pick((r) => r.latency.p50),
    p99: pick((r) => r.latency.p99),
    serverCpu: pick((r) => r.serverCpu ?? NaN),
    clientCpu: pick((r) => r.clientCpu),
  };
}

/**
 * get-agent on two servers side by side (`servers.on`, `servers.off`: a feature on and off), rounds
 * alternating which goes first so drift on the machine falls on both alike. The summaries of each
 * side and the cost per round pair (the share of throughput the feature takes away).
 */
export async function alternatingGetAgent({ servers, client, settings, log, feature }) {
  const targets = {};
  for (const [mode, server] of Object.entries(servers)) {
    const agent = await apiClient(server.url, server.key).create('/api/v1/agents', AGENT_BODY);
    targets[mode] = { url: `${server.url}/api/v1/agents/${agent.id}`, connections: settings.connections, headers: { Authorization: `Bearer ${server.key}` } };
    await client.run({ ...targets[mode], duration: settings.warmupSeconds }, server.pid);
  }
  const rounds = { on: [], off: [] };
  for (let i = 0; i < settings.rounds; i++) {
    for (const mode of i % 2 ? ['on', 'off'] : ['off', 'on']) {
      const r = await client.run({ ...targets[mode], duration: settings.roundSeconds }, servers[mode].pid);
      if (r.non2xx || r.errors || r.timeouts) throw new Error(`${feature} ${mode}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
      log(`    round ${i + 1}, ${feature} ${mode}: ${Math.round(r.rps)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms`);
      rounds[mode].push(r);
    }
  }
  const cost = aggregate(rounds.on.map((r, i) => 1 - r.rps / rounds.off[i].rps));
  return { on: summarizeRounds(rounds.on), off: summarizeRounds(rounds.off), cost };
}

/** The report row of `alternatingGetAgent`'s cost, with its spread over round pairs and an optional target (a fraction). */
export const costRow = (cost, target) => ({
  measure: 'cost (alternating rounds)',
  unit: '%',
  median: cost.median,
  spreadText: `${(Math.min(...cost.rounds) * 100).toFixed(1)}..${(Math.max(...cost.rounds) * 100).toFixed(1)} %`,
  ...(target === undefined ? {} : { target: `<= ${target * 100} %`, met: cost.median <= target }),
});
