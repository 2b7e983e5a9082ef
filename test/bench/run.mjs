#!/usr/bin/env node
// The benchmark suite: each scenario runs against a real server process after a warm-up, three
// rounds, and reports the median and the spread; results go to bench/results/latest.json.
// `--smoke` runs every scenario briefly, so CI proves the suite still works (not its numbers).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Switchboard } from '@switchboard/sdk';

const require = createRequire(import.meta.url);
const smoke = process.argv.includes('--smoke');
const CALLS = smoke ? 200 : 10_000;
const SLICES = smoke ? 4 : 40;
const WARMUP = smoke ? 50 : 1_000;

const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });

async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  const port = await freePort();
  const key = `sbk_${randomBytes(32).toString('base64url')}`;
  const child = spawn(process.execPath, [require.resolve('@switchboard/server/main')], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: join(dir, 'bench.db'),
      SWITCHBOARD_BOOTSTRAP_KEY: key,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_READ: '10000000',
      RATE_LIMIT_WRITE: '10000000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (await fetch(`${url}/readyz`).then((r) => r.ok, () => false)) break;
    if (i >= 200 || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error('The server did not become ready within 10 s.');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    key,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs) => (Math.max(...xs) - Math.min(...xs)) / median(xs);

/** Calls per second of `call`, run `count` times one after the other. */
async function rate(call, count) {
  const started = performance.now();
  for (let i = 0; i < count; i++) await call();
  return count / ((performance.now() - started) / 1000);
}

/** SDK row: the same getAgent calls through the SDK and through a bare fetch; the SDK may cost at most 10 %. */
async function sdkOverhead(server) {
  const sb = new Switchboard({ baseUrl: server.url, apiKey: server.key });
  const agent = await sb.agents.create({ name: 'bench', model: 'echo' });
  const headers = { Authorization: `Bearer ${server.key}` };
  const bare = async () => {
    const res = await fetch(`${server.url}/api/v1/agents/${agent.id}`, { headers });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    await res.json();
  };
  const viaSdk = () => sb.agents.get(agent.id);
  for (let i = 0; i < WARMUP; i++) await Promise.all([bare(), viaSdk()]);
  // Many short slices, alternating sides: the machine's drift (a VM's neighbours, GC, timers) falls
  // on both sides alike, and the medians of the slice rates shrug off the odd slow slice.
  const bareRates = [];
  const sdkRates = [];
  for (let slice = 0; slice < SLICES; slice++) {
    bareRates.push(await rate(bare, CALLS / SLICES));
    sdkRates.push(await rate(viaSdk, CALLS / SLICES));
  }
  const overhead = 1 - median(sdkRates) / median(bareRates);
  return {
    scenario: 'sdk-overhead',
    description: `${CALLS} sequential getAgent calls each way, in ${SLICES} alternating slices: SDK vs bare fetch`,
    bare: { medianPerSecond: Math.round(median(bareRates)), spread: spread(bareRates) },
    sdk: { medianPerSecond: Math.round(median(sdkRates)), spread: spread(sdkRates) },
    overhead,
    target: 'overhead < 10%',
    met: overhead < 0.1,
  };
}

const server = await startServer();
try {
  const results = [await sdkOverhead(server)];
  const pct = (x) => `${(x * 100).toFixed(1)}%`;
  console.log(smoke ? 'Benchmark smoke run (numbers not meaningful)' : 'Benchmarks after warm-up: median (spread = (max - min) / median)');
  console.log('scenario      | bare fetch/s      | SDK/s             | overhead | target          | met');
  for (const r of results) {
    console.log(
      `${r.scenario.padEnd(13)} | ${`${r.bare.medianPerSecond} (${pct(r.bare.spread)})`.padEnd(17)} | ${`${r.sdk.medianPerSecond} (${pct(r.sdk.spread)})`.padEnd(17)} | ${pct(r.overhead).padEnd(8)} | ${r.target.padEnd(15)} | ${r.met ? 'yes' : 'NO'}`,
    );
  }
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, smoke ? 'smoke.json' : 'latest.json'), `${JSON.stringify({ at: new Date().toISOString(), node: process.version, smoke, results }, null, 2)}\n`);
} finally {
  await server.stop();
}
