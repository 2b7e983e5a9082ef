import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { absent, call, claim, isolatedApp, label, newAgent, newRun, newRunner, runnerConn, type Conn } from '../server/run-helpers.js';
import { cli, json, keepSecret, REQUEST_ID, tempHome } from './cli-helpers.js';

type Budget = {
  id: string;
  name: string;
  scope: { type: string; id: string | null };
  window: string;
  amountMicros: number;
  thresholds: number[];
  runReservationMicros: number;
  status: { windowStart: string | null; windowEnd: string | null; spentMicros: number; reservedMicros: number; remainingMicros: number; state: string };
};

/**
 * An application of its own, with an agent whose run already spent 366 micro-USD (and made one call
 * without a price, which no budget can count): budgets count what their scope spent in the window.
 */
let conn: Conn;
let agentId: string;
let h: ReturnType<typeof tempHome>;
let env: Record<string, string>;

beforeAll(async () => {
  const app = await isolatedApp('cli-budgets');
  keepSecret(app.key);
  keepSecret(app.adminKey);
  conn = { baseUrl: inject('serverUrl'), key: app.key };
  const tag = label();
  agentId = (await newAgent(conn, { labels: [tag] })).id;
  const runner = await newRunner(conn, [tag]);
  const run = await newRun(conn, agentId);
  const claimed = await claim(runnerConn(conn.baseUrl, runner), runner.id);
  for (const body of [
    { requestId: 'cheap', model: 'gpt-4o-mini', inputTokens: 1200, outputTokens: 310, costMicros: 366 },
    { requestId: 'own-model', model: 'my-finetune', inputTokens: 50, outputTokens: 5 },
  ]) {
    const r = await call({ baseUrl: conn.baseUrl, key: claimed.runToken.token }, 'POST', `/api/v1/runs/${run.id}/usage`, body);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
  h = tempHome();
  env = { ...h.env, SWITCHBOARD_BASE_URL: conn.baseUrl, SWITCHBOARD_API_KEY: app.key };
});
afterAll(() => h?.cleanup());

const run = (args: string[]) => cli(args, { env });
const created = async (args: string[]) => json<Budget>(await run(['budgets', 'create', ...args, '--json']));
/** The ids `budgets list --all --json` prints (one array of every page's budgets). */
const listed = async (args: string[]) => json<Budget[]>(await run(['budgets', 'list', ...args, '--all', '--json'])).map((b) => b.id);

describe('switchboard budgets', () => {
  it('creates budgets from USD amounts, converted to micro-USD exactly', async () => {
    const monthly = await created([
      '--name',
      'Support, monthly',
      '--scope',
      `agent:${agentId}`,
      '--window',
      'month',
      '--amount',
      '50',
      '--threshold',
      '50',
      '--threshold',
      '80',
      '--run-reservation',
      '0.5',
    ]);
    expect(monthly).toMatchObject({
      id: expect.stringMatching(/^bdg_/),
      name: 'Support, monthly',
      scope: { type: 'agent', id: agentId },
      window: 'month',
      amountMicros: 50_000_000,
      thresholds: [50, 80],
      runReservationMicros: 500_000,
      status: { spentMicros: 366, state: 'ok' },
    });
    // 1.005 and 0.29 are not exact in binary floating point; parsed as decimals they are.
    const [odd, tiny] = await Promise.all([
      created(['--name', 'Odd', '--scope', 'application', '--window', 'total', '--amount', '1.005', '--run-reservation', '0.29']),
      created(['--name', 'Tiny', '--scope', 'application', '--window', 'day', '--amount', '$0.000001', '--threshold', 'none']),
    ]);
    expect(odd).toMatchObject({
      scope: { type: 'application', id: null },
      window: 'total',
      amountMicros: 1_005_000,
      runReservationMicros: 290_000,
      thresholds: [80],
    });
    expect(odd.status).toMatchObject({ windowStart: null, windowEnd: null });
    expect(tiny).toMatchObject({ amountMicros: 1, thresholds: [], runReservationMicros: 0 });
    // A micro-dollar a day for the whole application would refuse every run of the tests below.
    for (const id of [odd.id, tiny.id]) expect((await run(['budgets', 'delete', id])).code).toBe(0);
  });

  it('shows where a budget stands: spent, reserved, remaining and its state, in USD', async () => {
    const budget = await created(['--name', 'Daily, tight', '--scope', `agent:${agentId}`, '--window', 'day', '--amount', '0.0007', '--threshold', '50']);
    expect(budget.status.spentMicros).toBe(366);
    expect(budget.status.remainingMicros).toBe(Math.max(0, 700 - 366 - budget.status.reservedMicros));
    const today = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.parse(today) + 86_400_000).toISOString().slice(0, 10);
    const shown = await run(['budgets', 'get', budget.id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout.trimEnd().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^id:\\s+${budget.id}$`)),
      expect.stringMatching(/^name:\s+Daily, tight$/),
      expect.stringMatching(new RegExp(`^scope:\\s+agent:${agentId}$`)),
      expect.stringMatching(new RegExp(`^window:\\s+day, from ${today} 00:00:00 to ${tomorrow} 00:00:00$`)),
      expect.stringMatching(/^amount:\s+\$0\.0007$/),
      expect.stringMatching(/^spent:\s+\$0\.000366 \(52%\)$/),
      expect.stringMatching(/^reserved:\s+\$0\.00$/),
      expect.stringMatching(/^remaining:\s+\$0\.000334$/),
      expect.stringMatching(/^state:\s+warning$/),
      expect.stringMatching(/^thresholds:\s+50%$/),
      expect.stringMatching(/^run reservation:\s+none \(each call reserves its own estimate\)$/),
      expect.stringMatching(/^when exhausted:\s+new runs are refused \(402\)$/),
      expect.stringMatching(/^created:\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/),
      expect.stringMatching(/^updated:\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/),
    ]);
  });

  it('lists budgets as a table, narrowed by scope', async () => {
    const [forAgent, forApp] = await Promise.all([
      created(['--name', 'Listed agent', '--scope', `agent:${agentId}`, '--window', 'month', '--amount', '41.2']),
      created(['--name', 'Listed app', '--scope', 'application', '--window', 'total', '--amount', '1000']),
    ]);
    const [table, byAgent, byType, none] = await Promise.all([
      run(['budgets', 'list', '--scope-id', agentId, '--page-size', '100']),
      listed(['--scope-id', agentId]),
      listed(['--scope-type', 'application']),
      run(['budgets', 'list', '--scope-type', 'end-user']),
    ]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+SCOPE\s+WINDOW\s+AMOUNT\s+SPENT\s+RESERVED\s+REMAINING\s+STATE\s+RESETS$/);
    // Newest first.
    expect(lines[1]).toMatch(
      new RegExp(
        `^${forAgent.id}\\s+Listed agent\\s+agent:${agentId}\\s+month\\s+\\$41\\.20\\s+\\$0\\.000366\\s+\\$[\\d.]+\\s+\\$[\\d.]+\\s+ok\\s+\\d{4}-\\d{2}-01 00:00:00$`,
      ),
    );
    expect(byAgent).toContain(forAgent.id);
    expect(byAgent).not.toContain(forApp.id);
    expect(byType).toContain(forApp.id);
    expect(byType).not.toContain(forAgent.id);
    expect(table.stdout).not.toContain('Listed app');
    expect(none.stdout).toBe('No budgets.\n');
  });

  it('updates the amount, thresholds and run reservation, and deletes', async () => {
    const budget = await created(['--name', 'To change', '--scope', `agent:${agentId}`, '--window', 'day', '--amount', '0.0005', '--threshold', '50']);
    expect(budget.status.state).not.toBe('ok');
    const raised = await run(['budgets', 'update', budget.id, '--amount', '12.25', '--name', 'Changed']);
    expect(raised.code, raised.stderr).toBe(0);
    expect(raised.stdout).toMatch(/^name:\s+Changed$/m);
    expect(raised.stdout).toMatch(/^amount:\s+\$12\.25$/m);
    expect(raised.stdout).toMatch(/^state:\s+ok$/m);
    const quiet = json<Budget>(
      await run(['budgets', 'update', budget.id, '--threshold', 'none', '--run-reservation', '0.000366', '--on-exhausted', 'wait', '--json']),
    );
    expect(quiet).toMatchObject({ id: budget.id, name: 'Changed', amountMicros: 12_250_000, thresholds: [], runReservationMicros: 366, onExhausted: 'wait' });
    expect((await run(['budgets', 'get', budget.id])).stdout).toMatch(/^when exhausted:\s+new runs wait for an admin \(switchboard inbox --kind budget\)$/m);

    const nothing = await run(['budgets', 'update', budget.id]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toBe('switchboard: Nothing to change: give --name, --amount, --threshold, --run-reservation or --on-exhausted.\n');

    const deleted = await run(['budgets', 'delete', budget.id]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toBe(`Deleted budget ${budget.id}.\n`);
    const gone = await run(['budgets', 'get', budget.id]);
    expect(gone.code).toBe(1);
    expect(gone.stdout).toBe('');
    expect(gone.stderr).toMatch(/^switchboard: Not found/);
    expect(gone.stderr).toMatch(REQUEST_ID);
  });

  it('refuses amounts that are negative, finer than a micro-dollar or not numbers, and bad scopes, before asking', async () => {
    const base = ['budgets', 'create', '--name', 'Bad', '--window', 'month'];
    const cases: [string[], string][] = [
      [[...base, '--scope', 'application', '--amount', '-5'], "argument '-5' is invalid. must not be negative"],
      [[...base, '--scope', 'application', '--amount', '0.0000001'], 'has 7 decimals: amounts are counted in micro-USD, 6 decimals at most (0.000001)'],
      [[...base, '--scope', 'application', '--amount', '1,5'], 'must be an amount in USD, such as 50, 0.5 or 0.000366'],
      [[...base, '--scope', 'application', '--amount', '0'], 'must be more than 0'],
      [[...base, '--scope', 'application', '--amount', '10000000000'], 'must be at most $9,007,199,254.740991'],
      [[...base, '--scope', 'application', '--amount', '5', '--run-reservation', '-1'], 'must not be negative'],
      [[...base, '--scope', 'application', '--amount', '5', '--threshold', '120'], 'must be a percentage from 1 to 100 (or none)'],
      [[...base, '--scope', 'team:x', '--amount', '5'], 'must be application, agent:agent_..., end-user:eu_..., api-key:key_... or user:user_...'],
      [[...base, '--scope', `end-user:${agentId}`, '--amount', '5'], 'end-user: takes an id starting with eu_'],
      [[...base, '--scope', 'application'], "required option '--amount <usd>' not specified"],
      [['budgets', 'list', '--scope-type', 'team'], 'must be one of: application, agent, end-user, api-key, user'],
    ];
    const results = await Promise.all(cases.map(([args]) => run(args)));
    results.forEach((result, i) => {
      expect(result.code, cases[i]![0].join(' ')).toBe(2);
      expect(result.stderr).toContain(cases[i]![1]);
    });
  });

  it("prints the API's problem when it refuses: a scope of another tenant, a run over budget", async () => {
    const foreign = await run(['budgets', 'create', '--name', 'Foreign', '--scope', `agent:${absent('agent')}`, '--window', 'month', '--amount', '5']);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(/^switchboard: Not found/);
    expect(foreign.stderr).toMatch(REQUEST_ID);

    // A run of this agent reserves 1 USD, more than the 0.001 USD its budget allows: refused with 402.
    const capped = (await newAgent(conn)).id;
    const budget = await created(['--name', 'No room', '--scope', `agent:${capped}`, '--window', 'total', '--amount', '0.001', '--run-reservation', '1']);
    const refused = await run(['runs', 'create', '--agent', capped]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^switchboard: Budget exceeded/);
    expect(refused.stderr).toMatch(REQUEST_ID);
    // Raised, the run fits.
    expect(json<Budget>(await run(['budgets', 'update', budget.id, '--amount', '2', '--json'])).amountMicros).toBe(2_000_000);
    const admitted = await run(['runs', 'create', '--agent', capped, '--json']);
    expect(admitted.code, admitted.stderr).toBe(0);
    const after = json<Budget>(await run(['budgets', 'get', budget.id, '--json']));
    expect(after.status.reservedMicros).toBe(1_000_000);
  });
});
