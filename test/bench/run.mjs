#!/usr/bin/env node
// The benchmark suite (issue 6). Each scenario starts the processes it measures (the real server is
// server/dist/main.js in production mode), drives them from separate processes, warms up, measures
// three rounds and reports the median and the spread ((max - min) / median) of each measure.
// Prints one table and writes bench/results/latest.json (or smoke.json). See bench/README.md.
//
//   node bench/run.mjs                      every scenario, full length (8 to 9 minutes)
//   node bench/run.mjs --smoke              every scenario briefly, 1 round (CI: proves it runs)
//   node bench/run.mjs --only get-agent,... selected scenarios (plus the ones they compare with)
//   --cpu-prof-dir <dir>                    run every real server with node --cpu-prof, profiles in <dir>
//                                           (summarise them with bench/profile-summary.mjs)
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverNodeArgs } from './lib/processes.mjs';
import { machine, renderTable, writeResults } from './lib/report.mjs';
import * as baseline from './scenarios/baseline.mjs';
import * as getAgent from './scenarios/get-agent.mjs';
import * as listAgents from './scenarios/list-agents.mjs';
import * as createRun from './scenarios/create-run.mjs';
import * as dispatch from './scenarios/dispatch.mjs';
import * as fanOut from './scenarios/fan-out.mjs';
import * as validationCost from './scenarios/validation-cost.mjs';
import * as metricsCost from './scenarios/metrics-cost.mjs';
import * as startup from './scenarios/startup.mjs';
import * as sdkOverhead from './scenarios/sdk-overhead.mjs';
import * as mockDynamic from './scenarios/mock-dynamic.mjs';
import * as gateway from './scenarios/gateway.mjs';
import * as approvalResume from './scenarios/approval-resume.mjs';
import * as tasks from './scenarios/tasks.mjs';
import * as secrets from './scenarios/secrets.mjs';
import * as knowledge from './scenarios/knowledge.mjs';
import * as tracingCost from './scenarios/tracing-cost.mjs';

const SCENARIOS = [
  baseline,
  getAgent,
  listAgents,
  createRun,
  dispatch,
  approvalResume,
  tasks,
  secrets,
  fanOut,
  validationCost,
  startup,
  sdkOverhead,
  mockDynamic,
  gateway,
  knowledge,
  tracingCost,
  metricsCost,
];

const FULL = {
  rounds: 3,
  warmupSeconds: 5,
  roundSeconds: 10,
  connections: 50,
  listAgents: 1000,
  dispatches: 1000,
  dispatchWarmup: 100,
  subscribers: 2000,
  subscriberProcesses: 2,
  eventsPerSecond: 100,
  eventSeconds: 10,
  eventWarmupSeconds: 2,
  startupWarmup: 1,
  starts: 3,
  idleSettleMs: 1000,
  sdkCalls: 10_000,
  sdkWarmup: 1_000,
  tasks: 10_000,
  taskSamples: 500,
  races: 100,
  knowledgeDocuments: 1250,
  knowledgeQueries: 300,
  metricsCalls: 1_000_000,
};

/** About 2 s of load per scenario, one round, tiny counts: proves the suite works, not its numbers. */
const SMOKE = {
  ...FULL,
  rounds: 1,
  warmupSeconds: 0.5,
  roundSeconds: 1.5,
  listAgents: 50,
  dispatches: 50,
  dispatchWarmup: 5,
  subscribers: 20,
  eventSeconds: 1.5,
  eventWarmupSeconds: 0.3,
  startupWarmup: 0,
  starts: 2,
  idleSettleMs: 200,
  sdkCalls: 200,
  sdkWarmup: 20,
  tasks: 200,
  taskSamples: 10,
  races: 3,
  knowledgeDocuments: 40,
  knowledgeQueries: 10,
  metricsCalls: 10_000,
};

function parseArgs(argv) {
  const out = { smoke: false, only: undefined, cpuProfDir: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--smoke') out.smoke = true;
    else if (a === '--only') out.only = argv[++i];
    else if (a.startsWith('--only=')) out.only = a.slice('--only='.length);
    else if (a === '--cpu-prof-dir') out.cpuProfDir = argv[++i];
    else if (a.startsWith('--cpu-prof-dir=')) out.cpuProfDir = a.slice('--cpu-prof-dir='.length);
    else if (a === '--help' || a === '-h') {
      console.log(`Usage: node bench/run.mjs [--smoke] [--only ${SCENARIOS.map((s) => s.name).join(',')}] [--cpu-prof-dir <dir>]`);
      process.exit(0);
    } else {
      console.error(`Unknown argument ${a}`);
      process.exit(64);
    }
  }
  return out;
}

/** The scenarios to run, in suite order, with those they compare against. */
function select(only) {
  if (!only) return SCENARIOS;
  const wanted = new Set(
    only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  for (const w of wanted) {
    if (!SCENARIOS.some((s) => s.name === w)) {
      console.error(`Unknown scenario ${w}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
      process.exit(64);
    }
  }
  for (const s of SCENARIOS) if (wanted.has(s.name)) for (const n of s.needs ?? []) wanted.add(n);
  return SCENARIOS.filter((s) => wanted.has(s.name));
}

const args = parseArgs(process.argv.slice(2));
const settings = args.smoke ? SMOKE : FULL;
const scenarios = select(args.only);
if (args.cpuProfDir) serverNodeArgs.push('--cpu-prof', `--cpu-prof-dir=${resolve(args.cpuProfDir)}`);
const startedAt = new Date().toISOString();
const t0 = performance.now();
const log = (line) => console.log(line);
const m = machine();
console.log(
  `${args.smoke ? 'Benchmark smoke run (its numbers mean nothing)' : 'Benchmarks'}: ${scenarios.map((s) => s.name).join(', ')}; ` +
    `${m.cpus} CPUs (${m.cpuModel}), Node ${m.node}`,
);

const results = new Map();
let failed = 0;
for (const scenario of scenarios) {
  const started = performance.now();
  log(`\n== ${scenario.name}: ${scenario.description}`);
  try {
    const r = await scenario.run({ settings, smoke: args.smoke, results, log });
    results.set(scenario.name, { scenario: scenario.name, description: scenario.description, seconds: (performance.now() - started) / 1000, ...r });
  } catch (err) {
    failed++;
    console.error(`  ${scenario.name} FAILED: ${err?.stack ?? err}`);
    results.set(scenario.name, {
      scenario: scenario.name,
      description: scenario.description,
      error: String(err?.message ?? err),
      rows: [{ measure: 'FAILED', median: NaN, met: false, target: String(err?.message ?? err).slice(0, 60) }],
    });
  }
  log(`   (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

const list = [...results.values()];
const seconds = (performance.now() - t0) / 1000;
console.log(
  `\n${args.smoke ? 'Smoke run' : 'Results'} (${new Date().toISOString().slice(0, 10)}, ${m.cpus} CPUs, Node ${m.node}, ${seconds.toFixed(0)} s); ` +
    `median of ${settings.rounds} round${settings.rounds > 1 ? 's' : ''}, spread = (max - min) / median:\n`,
);
console.log(renderTable(list));
const files = writeResults(join(dirname(fileURLToPath(import.meta.url)), 'results'), { smoke: args.smoke, settings, results: list, startedAt, seconds });
console.log(`\nWritten: ${files.join(', ')}`);
if (failed) {
  console.error(`${failed} scenario${failed > 1 ? 's' : ''} failed`);
  process.exitCode = 1;
}
