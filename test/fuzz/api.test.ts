import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testProvidersFile } from '../support/oauth-server.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { seed, type Fixtures } from './fixtures.js';
import { requestsFor } from './requests.js';
import { describeRequest, send, type FuzzResponse } from './send.js';
import { operations } from './spec.js';
import { describeResponse, violations } from './verdict.js';

/**
 * Spec-driven fuzzing: every operation of the bundled spec gets requests generated from its own
 * parameters and schemas (valid, then broken in every way we know), against a server of its own,
 * and every answer must keep the contract: no 5xx, errors as RFC 9457 problems, declared statuses.
 *
 * `npm test` runs FUZZ_RUNS cases per operation (default 25) from the fixed FUZZ_SEED;
 * `npm run fuzz` runs many more, within FUZZ_TIME_LIMIT_S for the whole suite. A failure prints
 * each distinct failure's request and how to replay it (FUZZ_SEED, FUZZ_ONLY, FUZZ_PATH).
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 25);
const SEED = Number(process.env.FUZZ_SEED ?? 20261204);
const TIME_LIMIT_MS = process.env.FUZZ_TIME_LIMIT_S ? Number(process.env.FUZZ_TIME_LIMIT_S) * 1000 : undefined;
const ONLY = process.env.FUZZ_ONLY;
const REPLAY_PATH = process.env.FUZZ_PATH;

/** Operations that end a resource run last (deletions last of all), so the others still meet live resources. */
const ENDING = [/^complete/, /^(revoke|retire)/, /^delete/];
const rank = (operationId: string) => ENDING.findIndex((re) => re.test(operationId)) + 1;
const all = operations();
const selected = all.filter((op) => !ONLY || op.operationId === ONLY).sort((a, b) => rank(a.operationId) - rank(b.operationId));
const perOperationMs = TIME_LIMIT_MS ? TIME_LIMIT_MS / selected.length : undefined;

/** A seed of its own per operation, stable when other operations are added. */
const seedOf = (operationId: string) =>
  Array.from(operationId, (c) => c.charCodeAt(0)).reduce((h, code) => Math.imul(h ^ code, 16777619) >>> 0, SEED >>> 0) | 0;

/** A server error's own detail, so that different crashes of one operation are reported apart. */
function detailOf(res: FuzzResponse): string {
  try {
    return String((JSON.parse(res.body) as { detail?: unknown }).detail).slice(0, 120);
  } catch {
    return res.body.slice(0, 120);
  }
}

let server: ServerProcess;
let fixtures: Fixtures;
const stats = new Map<string, { cases: number; statuses: Map<number, number> }>();

beforeAll(async () => {
  server = await startServerProcess({
    // Raised so that 429s do not hide every other answer.
    RATE_LIMIT_READ: '10000000',
    RATE_LIMIT_WRITE: '10000000',
    RATE_LIMIT_RUN: '10000000',
    RATE_LIMIT_COSTLY: '10000000',
    // The seeded webhook endpoint and model provider point at a closed port on loopback.
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
    MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES: 'true',
    // Seeded connection providers are at a closed port on loopback.
    SWITCHBOARD_CONNECTION_PROVIDERS_FILE: testProvidersFile({ url: 'http://127.0.0.1:9', host: '127.0.0.1:9' }),
    CONNECTION_ALLOW_PRIVATE_ADDRESSES: 'true',
    // Seeded leases stay live for the whole run.
    LEASE_SECONDS: '3600',
    LOG_LEVEL: 'error',
  });
  fixtures = await seed(server.url, server.adminKey);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  const cases = [...stats.values()].reduce((n, s) => n + s.cases, 0);
  // Statuses per operation (how much reached the handlers) when fuzzing on purpose, one line under npm test.
  const verbose = TIME_LIMIT_MS !== undefined || process.env.FUZZ_RUNS !== undefined;
  const lines = [...stats.entries()].map(
    ([id, s]) =>
      `\n  ${id}: ${s.cases} cases, ${[...s.statuses.entries()]
        .sort(([a], [b]) => a - b)
        .map(([st, n]) => `${st}x${n}`)
        .join(' ')}`,
  );
  console.log(`fuzz: ${stats.size} of ${all.length} operations, ${cases} cases, seed ${SEED}${verbose ? lines.join('') : ''}`);
});

describe('every operation of the spec keeps its contract under fuzzed requests', () => {
  it('covers every operation of the spec', () => {
    expect(all.length).toBeGreaterThan(0);
    if (!ONLY) expect(new Set(selected.map((op) => op.operationId)).size).toBe(all.length);
  });

  for (const op of selected) {
    it(`${op.operationId}: ${op.method} ${op.path}`, { timeout: (perOperationMs ?? RUNS * 2000) + 60_000 }, async () => {
      const s = { cases: 0, statuses: new Map<number, number>() };
      stats.set(op.operationId, s);
      // Every case runs (no stop at the first failure, no shrinking: the server's state moves on
      // with each case); each distinct failure is reported with the case's index to replay it.
      const failures = new Map<string, string>();
      const property = fc.asyncProperty(requestsFor(op, fixtures), async (req) => {
        const index = s.cases++;
        let res: FuzzResponse | undefined;
        let problems: string[];
        try {
          res = await send(server.url, req);
          s.statuses.set(res.status, (s.statuses.get(res.status) ?? 0) + 1);
          problems = violations(op, req, res);
        } catch (err) {
          problems = [`request failed: ${(err as Error).message}`];
        }
        const key = [...problems, res && res.status >= 500 ? detailOf(res) : ''].map((p) => p.replace(/\d+/g, 'N')).join('; ');
        if (problems.length && !failures.has(key)) {
          failures.set(
            key,
            `${problems.join('; ')}\n  ${describeRequest(req)}\n=> ${res ? describeResponse(res) : '(no response)'}\nreplay: FUZZ_SEED=${SEED} FUZZ_ONLY=${op.operationId} FUZZ_PATH=${REPLAY_PATH ?? index}`,
          );
        }
      });
      await fc.check(property, {
        seed: seedOf(op.operationId),
        ...(REPLAY_PATH
          ? { path: REPLAY_PATH, numRuns: 1 }
          : {
              numRuns: TIME_LIMIT_MS ? Number.MAX_SAFE_INTEGER : RUNS,
              ...(perOperationMs ? { plugins: [fc.interruptAfterTimeLimit(perOperationMs)] } : {}),
            }),
      });
      if (failures.size)
        expect.fail(`${failures.size} distinct contract violations of ${op.operationId} in ${s.cases} cases:\n\n${[...failures.values()].join('\n\n')}`);
    });
  }
});
