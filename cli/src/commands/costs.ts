import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import type { CostExport, CostGroup, CostGroupBy, CostReport } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { integer, oneOf } from '../input.js';
import { examples } from '../lists.js';
import { costText, count } from '../money.js';
import { shortTime, type Column } from '../output.js';

/** `--group-by` as people type it, the API's `groupBy`, and the heading of the group's column. */
const GROUPS = {
  agent: ['agent', 'AGENT'],
  model: ['model', 'MODEL'],
  day: ['day', 'DAY'],
  'end-user': ['endUser', 'END-USER'],
  'api-key': ['apiKey', 'API KEY'],
  user: ['user', 'PERSON'],
  project: ['project', 'PROJECT'],
  goal: ['goal', 'GOAL'],
  source: ['source', 'SOURCE'],
} as const satisfies Record<string, readonly [CostGroupBy, string]>;
type GroupFlag = keyof typeof GROUPS;
const GROUP_FLAGS = Object.keys(GROUPS) as GroupFlag[];
const FLAG_OF = Object.fromEntries(GROUP_FLAGS.map((flag) => [GROUPS[flag][0], flag])) as Record<CostGroupBy, GroupFlag>;

/** `--from`/`--to`: an ISO 8601 time, or a date (its UTC midnight). */
const isoTime = (value: string): string => {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value))) return `${value}T00:00:00Z`;
  if (/^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(Date.parse(value))) return value;
  throw new InvalidArgumentError('must be an ISO 8601 time, e.g. 2026-12-01T00:00:00Z, or a date, e.g. 2026-12-01 (its UTC midnight)');
};

/** The start of the current UTC month: the API's default `from`. */
const monthStart = (now = new Date()) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString();

const UNPRICED_NOTE = 'Unpriced requests (a model without prices, or usage reported without a cost) are not in the cost: it is unknown, never counted as $0.';

const groupColumns = (groupBy: CostGroupBy): Column<CostGroup>[] => [
  { header: GROUPS[FLAG_OF[groupBy]][1], value: (g) => g.key ?? '(none)' },
  { header: 'COST', value: costText },
  { header: 'REQUESTS', value: (g) => count(g.requests) },
  { header: 'INPUT TOKENS', value: (g) => count(g.inputTokens) },
  { header: 'OUTPUT TOKENS', value: (g) => count(g.outputTokens) },
];

/** A cost report for people: the range and totals as `key: value` lines, then the groups' table. */
function printReport(ctx: Context, report: CostReport, limit: number | undefined) {
  const out = ctx.out;
  if (out.json) {
    out.data(report);
    return;
  }
  const t = report.totals;
  out.object({
    from: shortTime(report.from),
    to: shortTime(report.to),
    cost: costText(t),
    requests: `${count(t.requests)}${t.unpricedRequests ? ` (${count(t.unpricedRequests)} unpriced)` : ''}`,
    'input tokens': count(t.inputTokens),
    'output tokens': count(t.outputTokens),
  });
  const groupBy = report.groupBy;
  if (groupBy) {
    out.print();
    if (report.groups.length) out.table(report.groups, groupColumns(groupBy));
    else out.print('No usage in this range.');
  }
  if (t.unpricedRequests) out.note(out.dim(UNPRICED_NOTE));
  if (report.hasMore && groupBy) {
    out.note(
      out.dim(
        `More groups than the ${report.groups.length} shown (the ${groupBy === 'day' ? 'oldest days' : 'costliest'}): raise --limit${limit === 1000 ? '' : ' (up to 1000)'}, or export them all with "switchboard costs export --group-by ${FLAG_OF[groupBy]}".`,
      ),
    );
  }
}

type ReportFlags = { groupBy?: GroupFlag; from?: string; to?: string; agent?: string; endUser?: string; limit?: number };
type ExportFlags = { groupBy?: GroupFlag; from?: string; to?: string; format?: 'csv' | 'ndjson'; output?: string; timeout: number; idempotencyKey?: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls an export until it succeeded (returned), failed or expired (an error), or `timeoutSeconds` passed (an error). */
async function finished(ctx: Context, started: CostExport, timeoutSeconds: number): Promise<CostExport> {
  const client = ctx.client();
  const deadline = Date.now() + timeoutSeconds * 1000;
  let current = started;
  for (let delay = 200; current.status === 'queued' || current.status === 'running'; delay = Math.min(delay * 2, 2000)) {
    if (Date.now() >= deadline) {
      throw new CliError(
        `The export ${current.id} is still ${current.status} after ${timeoutSeconds} s; it carries on in the background: see it with "switchboard api GET /api/v1/costs/exports/${current.id}", or wait longer with --timeout.`,
      );
    }
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
    current = await client.costs.exports.get(current.id);
  }
  if (current.status === 'failed') throw new CliError(`The export ${current.id} failed: ${current.error ?? 'no reason given'}`);
  if (current.status !== 'succeeded') throw new CliError(`The export ${current.id} is ${current.status}: its file is no longer there.`);
  return current;
}

export function registerCosts(program: Command, ctx: Context) {
  const costs = examples(
    program
      .command('costs')
      .description('What usage cost (this UTC month by default): totals, and per agent, model, day, end-user, key, person, project, goal or source')
      .addHelpText(
        'after',
        `
Without a command, "switchboard costs" is "switchboard costs report": see "switchboard costs report --help"
for its options (--group-by, --from, --to, --agent, --end-user, --limit).`,
      ),
    ['switchboard costs', 'switchboard costs --group-by agent', 'switchboard costs export --group-by agent --output costs.csv'],
  );

  examples(
    costs
      .command('report', { isDefault: true })
      .description('Show what usage cost: the totals, and with --group-by the costliest groups (this is what "switchboard costs" does)')
      .option('--group-by <group>', `sums per group: ${GROUP_FLAGS.join(', ')}`, oneOf(...GROUP_FLAGS))
      .option('--from <time>', 'start of the range, included: an ISO 8601 time or a date (default: the start of this UTC month)', isoTime)
      .option('--to <time>', 'end of the range, excluded (default: now); at most 366 days after --from', isoTime)
      .option('--agent <agentId>', "only the usage of this agent's runs")
      .option('--end-user <endUserId>', 'only the usage made for this end-user (eu_...)')
      .option('--limit <n>', 'most groups to show, 1 to 1000 (default 100)', integer(1, 1000))
      .addHelpText(
        'after',
        `
Money is in USD, exactly as the API counts it (in micro-USD). Requests without a price (a model
without prices, or usage a run reported without a cost) are counted apart as "unpriced": their cost
is unknown, never shown as $0.`,
      ),
    [
      'switchboard costs',
      'switchboard costs --group-by agent',
      'switchboard costs --group-by day --from 2026-12-01 --to 2027-01-01',
      'switchboard costs --group-by model --agent agent_01jd4... --json | jq .totals',
    ],
  ).action(async (o: ReportFlags) => {
    const query = {
      ...(o.groupBy ? { groupBy: GROUPS[o.groupBy][0] } : {}),
      ...(o.from ? { from: o.from } : {}),
      ...(o.to ? { to: o.to } : {}),
      ...(o.agent ? { agentId: o.agent } : {}),
      ...(o.endUser ? { endUserId: o.endUser } : {}),
      ...(o.limit !== undefined ? { limit: o.limit } : {}),
    };
    printReport(ctx, await ctx.client().costs.get(query), o.limit);
  });

  examples(
    costs
      .command('export')
      .description('Export usage to a file: every usage event, or every group with --group-by; waits for it, downloads it and checks its SHA-256')
      .option('--from <time>', 'start of the range, included: an ISO 8601 time or a date (default: the start of this UTC month)', isoTime)
      .option('--to <time>', 'end of the range, excluded (default: now); at most 366 days after --from', isoTime)
      .option('--group-by <group>', `one row per group instead of per usage event: ${GROUP_FLAGS.join(', ')}`, oneOf(...GROUP_FLAGS))
      .option('--format <format>', 'csv (the default) or ndjson', oneOf('csv', 'ndjson'))
      .option('-o, --output <file>', 'write the file here (default: stdout); it is written only once its SHA-256 checked out')
      .option('--timeout <seconds>', 'how long to wait for the export to be written, 1 to 86400', integer(1, 86_400), 300)
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)')
      .addHelpText(
        'after',
        `
Money columns are in micro-USD (1 USD = 1,000,000), as in the API; costMicros is empty for
unpriced usage. With --output and --json, prints the export (its id, rowCount, bytes, sha256).`,
      ),
    [
      'switchboard costs export --output costs.csv',
      'switchboard costs export --from 2026-12-01 --to 2027-01-01 --group-by agent --format ndjson | jq -c .',
      'switchboard costs export --format ndjson --output december.ndjson --json | jq -r .sha256',
    ],
  ).action(async (o: ExportFlags) => {
    const out = ctx.out;
    const client = ctx.client();
    const body = {
      from: o.from ?? monthStart(),
      to: o.to ?? new Date().toISOString(),
      ...(o.format ? { format: o.format } : {}),
      ...(o.groupBy ? { groupBy: GROUPS[o.groupBy][0] } : {}),
    };
    const created = await client.costs.exports.create(body, { idempotencyKey: o.idempotencyKey });
    if (!out.json) out.note(out.dim(`Export ${created.id} ${created.status}; waiting for it to be written (up to ${o.timeout} s)...`));
    const done = await finished(ctx, created, o.timeout);
    const content = await client.costs.exports.content(done.id);
    const bytes = Buffer.from(content, 'utf8');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 !== done.sha256) {
      throw new CliError(
        `The download of export ${done.id} is corrupt: its SHA-256 is ${sha256}, the export's is ${done.sha256 ?? 'missing'} (${count(bytes.length)} bytes received, ${done.bytes === null ? 'unknown' : count(done.bytes)} expected). Nothing was written; run the command again.`,
      );
    }
    const toFile = o.output !== undefined && o.output !== '-';
    if (toFile) {
      try {
        writeFileSync(o.output!, bytes);
      } catch (err) {
        throw new CliError(`Cannot write the export to ${o.output}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      if (out.json) out.data(done);
    } else {
      out.stdout.write(content);
    }
    if (!out.json) {
      out.note(
        `Export ${done.id}: ${count(done.rowCount ?? 0)} rows, ${count(bytes.length)} bytes${toFile ? ` written to ${o.output}` : ''}; SHA-256 ${sha256} verified.`,
      );
    }
  });
}
