// The autocannon driver: one child process (lib/load-child.mjs) runs the load, so the bench's own
// process and the server under test are not sharing an event loop with the load generator.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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
