import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { call, claim, isolatedApp, label, newAgent, newRun, newRunner, runnerConn, type Conn } from '../server/run-helpers.js';
import { cli, json, keepSecret, REQUEST_ID, tempHome } from './cli-helpers.js';

type Totals = { costMicros: number; requests: number; unpricedRequests: number; inputTokens: number; outputTokens: number };
type Report = {
  object: string;
  from: string;
  to: string;
  groupBy: string | null;
  totals: Totals;
  groups: (Totals & { key: string | null })[];
  hasMore: boolean;
};
type CostExport = { id: string; status: string; format: string; groupBy: string | null; rowCount: number; bytes: number; sha256: string };

/**
 * An application of its own (its ledger holds only this file's usage): three agents whose runs
 * report what their calls cost, one call priced at 41.20 USD, one at 366 micro-USD, two without a
 * price (their cost is unknown, and must never read as $0).
 */
let conn: Conn;
let h: ReturnType<typeof tempHome>;
let env: Record<string, string>;
const agents: { expensive: string; mixed: string; unpriced: string } = { expensive: '', mixed: '', unpriced: '' };
let from: string;
let to: string;

/** A claimed run of a new agent that reports these calls with its run token; the agent's id. */
async function agentWithUsage(reports: Record<string, unknown>[]): Promise<string> {
  const tag = label();
  const agent = await newAgent(conn, { labels: [tag] });
  const runner = await newRunner(conn, [tag]);
  const run = await newRun(conn, agent.id);
  const claimed = await claim(runnerConn(conn.baseUrl, runner), runner.id);
  expect(claimed.run.id).toBe(run.id);
  for (const body of reports) {
    const r = await call({ baseUrl: conn.baseUrl, key: claimed.runToken.token }, 'POST', `/api/v1/runs/${run.id}/usage`, body);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
  return agent.id;
}

beforeAll(async () => {
  const app = await isolatedApp('cli-costs');
  keepSecret(app.key);
  keepSecret(app.adminKey);
  conn = { baseUrl: inject('serverUrl'), key: app.key };
  from = new Date(Date.now() - 3_600_000).toISOString();
  agents.expensive = await agentWithUsage([{ requestId: 'big', model: 'gpt-4.1', inputTokens: 9_100_000, outputTokens: 1_600_000, costMicros: 41_200_000 }]);
  agents.mixed = await agentWithUsage([
    { requestId: 'cheap', model: 'gpt-4o-mini', inputTokens: 1200, outputTokens: 310, costMicros: 366 },
    { requestId: 'own-model', model: 'my-finetune', inputTokens: 50, outputTokens: 5 },
  ]);
  agents.unpriced = await agentWithUsage([{ requestId: 'local', model: 'my-finetune', inputTokens: 10, outputTokens: 1 }]);
  to = new Date(Date.now() + 60_000).toISOString();
  h = tempHome();
  env = { ...h.env, SWITCHBOARD_BASE_URL: conn.baseUrl, SWITCHBOARD_API_KEY: app.key };
});
afterAll(() => h?.cleanup());

const run = (args: string[], extra: Record<string, string> = {}) => cli(args, { env: { ...env, ...extra } });
const lines = (text: string) => text.trimEnd().split('\n');

describe('switchboard costs', () => {
  it('prints the totals in USD, exactly, with the unpriced requests counted apart (never as $0)', async () => {
    const [human, machine] = await Promise.all([run(['costs']), run(['costs', '--json'])]);
    expect(human.code, human.stderr).toBe(0);
    const report = json<Report>(machine);
    expect(report).toMatchObject({
      object: 'cost_report',
      groupBy: null,
      groups: [],
      hasMore: false,
      totals: { costMicros: 41_200_366, requests: 4, unpricedRequests: 2, inputTokens: 9_101_260, outputTokens: 1_600_316 },
    });
    expect(lines(human.stdout)).toEqual([
      expect.stringMatching(/^from:\s+\d{4}-\d{2}-01 00:00:00$/),
      expect.stringMatching(/^to:\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/),
      expect.stringMatching(/^cost:\s+\$41\.200366 \+ 2 unpriced$/),
      expect.stringMatching(/^requests:\s+4 \(2 unpriced\)$/),
      expect.stringMatching(/^input tokens:\s+9,101,260$/),
      expect.stringMatching(/^output tokens:\s+1,600,316$/),
    ]);
    expect(human.stderr).toContain('Unpriced requests (a model without prices, or usage reported without a cost) are not in the cost');
    // The same as `switchboard costs report`, the default command.
    const explicit = await run(['costs', 'report']);
    expect(explicit.stdout.replace(/^to:.*$/m, '')).toBe(human.stdout.replace(/^to:.*$/m, ''));
  });

  it('groups by agent: the costliest first, a cheap call to the micro-dollar, unknown costs said so', async () => {
    const byAgent = await run(['costs', '--group-by', 'agent', '--from', from, '--to', to]);
    expect(byAgent.code, byAgent.stderr).toBe(0);
    const [, table] = byAgent.stdout.split('\n\n');
    expect(lines(table!)).toEqual([
      expect.stringMatching(/^AGENT\s+COST\s+REQUESTS\s+INPUT TOKENS\s+OUTPUT TOKENS$/),
      expect.stringMatching(new RegExp(`^${agents.expensive}\\s+\\$41\\.20\\s+1\\s+9,100,000\\s+1,600,000$`)),
      expect.stringMatching(new RegExp(`^${agents.mixed}\\s+\\$0\\.000366 \\+ 1 unpriced\\s+2\\s+1,250\\s+315$`)),
      expect.stringMatching(new RegExp(`^${agents.unpriced}\\s+unknown \\(1 unpriced\\)\\s+1\\s+10\\s+1$`)),
    ]);
    expect(byAgent.stdout).toMatch(/^from:\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/m);
    expect(byAgent.stderr).not.toContain('More groups');
  });

  it('narrows by agent, groups by day, source, model and end-user, and says when there are more groups', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const [bySource, byDay, byModel, byEndUser, empty] = await Promise.all([
      run(['costs', '--group-by', 'source', '--agent', agents.mixed, '--json']),
      run(['costs', '--group-by', 'day']),
      run(['costs', '--group-by', 'model', '--limit', '1']),
      run(['costs', '--group-by', 'end-user', '--from', today]),
      run(['costs', '--group-by', 'agent', '--from', '2020-01-01', '--to', '2020-02-01']),
    ]);
    expect(json<Report>(bySource).groups).toEqual([
      { key: 'runner_report', costMicros: 366, requests: 2, unpricedRequests: 1, inputTokens: 1250, outputTokens: 315 },
    ]);
    expect(byDay.stdout).toMatch(new RegExp(`^DAY\\s+COST\\s+REQUESTS`, 'm'));
    expect(byDay.stdout).toMatch(new RegExp(`^${today}\\s+\\$41\\.200366 \\+ 2 unpriced\\s+4\\s`, 'm'));

    expect(byModel.code, byModel.stderr).toBe(0);
    expect(lines(byModel.stdout.split('\n\n')[1]!)).toEqual([expect.stringMatching(/^MODEL\s+COST/), expect.stringMatching(/^gpt-4\.1\s+\$41\.20\s+1\s/)]);
    expect(byModel.stderr).toContain(
      'More groups than the 1 shown (the costliest): raise --limit (up to 1000), or export them all with "switchboard costs export --group-by model".',
    );

    // No end-user made any of it: one group without a key.
    expect(byEndUser.stdout).toMatch(/^END-USER\s+COST/m);
    expect(byEndUser.stdout).toMatch(/^\(none\)\s+\$41\.200366 \+ 2 unpriced\s+4\s/m);

    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout).toMatch(/^cost:\s+\$0\.00$/m);
    expect(empty.stdout).toMatch(/^requests:\s+0$/m);
    expect(empty.stdout).toContain('\nNo usage in this range.\n');
    expect(empty.stderr).toBe('');
  });

  it('refuses a bad group or time before asking, and prints the problem of a range the API refuses', async () => {
    const [group, time, limit, range] = await Promise.all([
      run(['costs', '--group-by', 'colour']),
      run(['costs', '--from', 'yesterday']),
      run(['costs', '--limit', '0']),
      run(['costs', '--from', '2024-01-01', '--to', '2026-01-01']),
    ]);
    expect(group.code).toBe(2);
    expect(group.stderr).toContain('must be one of: agent, model, day, end-user, api-key, user, project, goal, source');
    expect(time.code).toBe(2);
    expect(time.stderr).toContain('must be an ISO 8601 time, e.g. 2026-12-01T00:00:00Z, or a date');
    expect(limit.code).toBe(2);
    expect(limit.stderr).toContain('must be a whole number from 1 to 1000');
    expect(range.code).toBe(1);
    expect(range.stdout).toBe('');
    expect(range.stderr).toMatch(/^switchboard: Validation error: .*366 days/);
    expect(range.stderr).toMatch(REQUEST_ID);
  });
});

/** A proxy in front of the server that hands every answer back as is, except the ones `change` rewrites. */
async function proxy(change: (path: string, body: Buffer) => Buffer): Promise<{ url: string; server: Server }> {
  const upstream = new URL(conn.baseUrl);
  const server = createServer((req, res) => {
    const headers = { ...req.headers };
    delete headers['accept-encoding'];
    const out = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        const body = change(req.url ?? '', Buffer.concat(chunks));
        const back = { ...answer.headers, 'content-length': String(body.length) };
        delete back['transfer-encoding'];
        res.writeHead(answer.statusCode ?? 502, back);
        res.end(body);
      });
    });
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('switchboard costs export', () => {
  it('writes every usage event to a CSV file once its SHA-256 checks out', async () => {
    const file = join(h.home, 'costs.csv');
    const result = await run(['costs', 'export', '--from', from, '--to', to, '--output', file]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    const bytes = readFileSync(file);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const text = bytes.toString('utf8');
    const rows = text.trimEnd().split('\r\n');
    expect(rows).toHaveLength(5);
    expect(rows[0]).toMatch(/^id,createdAt,source,requestId,model,/);
    expect(rows.filter((r) => r.includes('my-finetune'))).toHaveLength(2);
    expect(result.stderr).toMatch(/^Export costexp_\w+ queued; waiting for it to be written \(up to 300 s\)\.\.\.\n/);
    expect(result.stderr).toContain(`: 4 rows, ${bytes.length.toLocaleString('en-US')} bytes written to ${file}; SHA-256 ${sha256} verified.\n`);
    const id = /Export (costexp_\w+):/.exec(result.stderr)![1]!;
    const done = await call<CostExport>(conn, 'GET', `/api/v1/costs/exports/${id}`);
    expect(done.body).toMatchObject({ status: 'succeeded', format: 'csv', groupBy: null, rowCount: 4, bytes: bytes.length, sha256 });
  });

  it('writes the groups as NDJSON to stdout, or prints the export with --json and --output', async () => {
    const [piped, described] = await Promise.all([
      run(['costs', 'export', '--from', from, '--to', to, '--group-by', 'agent', '--format', 'ndjson']),
      run([
        'costs',
        'export',
        '--from',
        from,
        '--to',
        to,
        '--group-by',
        'end-user',
        '--format',
        'ndjson',
        '--output',
        join(h.home, 'by-end-user.ndjson'),
        '--json',
      ]),
    ]);
    expect(piped.code, piped.stderr).toBe(0);
    const groups = lines(piped.stdout).map((l) => JSON.parse(l) as Totals & { key: string });
    expect(groups.map((g) => [g.key, g.costMicros, g.requests, g.unpricedRequests])).toEqual([
      [agents.expensive, 41_200_000, 1, 0],
      [agents.mixed, 366, 2, 1],
      [agents.unpriced, 0, 1, 1],
    ]);
    expect(piped.stderr).toMatch(/: 3 rows, [\d,]+ bytes; SHA-256 [0-9a-f]{64} verified\.\n$/);

    const exported = json<CostExport>(described);
    expect(exported).toMatchObject({ status: 'succeeded', format: 'ndjson', groupBy: 'endUser', rowCount: 1 });
    expect(
      createHash('sha256')
        .update(readFileSync(join(h.home, 'by-end-user.ndjson')))
        .digest('hex'),
    ).toBe(exported.sha256);
  });

  it('fails loudly, writing nothing, when the download does not match its SHA-256', async () => {
    // A byte flipped on the way, as a broken proxy or disk would.
    const corrupting = await proxy((path, body) => {
      if (!/\/content$/.test(path)) return body;
      const copy = Buffer.from(body);
      copy[copy.length - 2] = copy[copy.length - 2] === 0x31 ? 0x32 : 0x31;
      return copy;
    });
    try {
      const file = join(h.home, 'corrupt.csv');
      const [toFile, toStdout] = await Promise.all([
        run(['costs', 'export', '--from', from, '--to', to, '--output', file], { SWITCHBOARD_BASE_URL: corrupting.url }),
        run(['costs', 'export', '--from', from, '--to', to, '--format', 'ndjson'], { SWITCHBOARD_BASE_URL: corrupting.url }),
      ]);
      for (const result of [toFile, toStdout]) {
        expect(result.code).toBe(1);
        expect(result.stdout).toBe('');
        expect(result.stderr).toMatch(
          /switchboard: The download of export costexp_\w+ is corrupt: its SHA-256 is [0-9a-f]{64}, the export's is [0-9a-f]{64} \([\d,]+ bytes received, [\d,]+ expected\)\. Nothing was written; run the command again\.\n$/,
        );
      }
      expect(existsSync(file)).toBe(false);
    } finally {
      corrupting.server.close();
    }
  });

  it('gives up after --timeout with the export still running, saying how to find it', async () => {
    // An export the server holds as running (on the way back) for as long as the command waits.
    const slow = await proxy((path, body) =>
      /\/costs\/exports\/costexp_\w+$/.test(path) ? Buffer.from(body.toString('utf8').replace('"status":"succeeded"', '"status":"running"')) : body,
    );
    try {
      const started = Date.now();
      const result = await run(['costs', 'export', '--timeout', '1'], { SWITCHBOARD_BASE_URL: slow.url });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(
        /switchboard: The export (costexp_\w+) is still (queued|running) after 1 s; it carries on in the background: see it with "switchboard api GET \/api\/v1\/costs\/exports\/\1", or wait longer with --timeout\.\n$/,
      );
    } finally {
      slow.server.close();
    }
  });
});
