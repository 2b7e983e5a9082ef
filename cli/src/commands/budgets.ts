import { InvalidArgumentError, type Command } from 'commander';
import type { Budget, BudgetExhaustedPolicy, BudgetScope, BudgetUpdate, BudgetWindow } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { collect, oneOf } from '../input.js';
import { deleteCommand, examples, listOptions, pageQuery, printList, type ListOptions } from '../lists.js';
import { parseUsd, positiveUsd, usd } from '../money.js';
import { shortTime, type Column } from '../output.js';

type ScopeType = BudgetScope['type'];
const WINDOWS: BudgetWindow[] = ['day', 'month', 'total'];

/** A scope's kind as people type it (`end-user`), the API's (`end_user`), and the prefix of its ids. */
const KINDS = {
  application: ['application', ''],
  agent: ['agent', 'agent_'],
  'end-user': ['end_user', 'eu_'],
  'api-key': ['api_key', 'key_'],
  user: ['user', 'user_'],
} as const satisfies Record<string, readonly [ScopeType, string]>;
type Kind = keyof typeof KINDS;
const KIND_NAMES = Object.keys(KINDS) as Kind[];
const KIND_OF = Object.fromEntries(KIND_NAMES.map((k) => [KINDS[k][0], k])) as Record<ScopeType, Kind>;

/** `--scope`: `application`, or `agent:agent_...`, `end-user:eu_...`, `api-key:key_...`, `user:user_...`. */
const scopeOf = (value: string): BudgetScope => {
  if (value === 'application') return { type: 'application', id: null };
  const at = value.indexOf(':');
  const kind = value.slice(0, at) as Kind;
  const id = value.slice(at + 1);
  if (at < 1 || !KIND_NAMES.includes(kind) || kind === 'application') {
    throw new InvalidArgumentError('must be application, agent:agent_..., end-user:eu_..., api-key:key_... or user:user_...');
  }
  const [type, prefix] = KINDS[kind];
  if (!id.startsWith(prefix)) throw new InvalidArgumentError(`${kind}: takes an id starting with ${prefix}`);
  return { type, id };
};

/** A scope as `--scope` takes it: `application`, `agent:agent_...`, `end-user:eu_...`. */
const scopeText = (scope: BudgetScope) => (scope.type === 'application' ? 'application' : `${KIND_OF[scope.type]}:${scope.id ?? ''}`);

/** `--scope-type`: as `--scope` spells it (end-user, api-key) or as the API does (end_user, api_key). */
const scopeType = (value: string): ScopeType => {
  if ((KIND_NAMES as string[]).includes(value)) return KINDS[value as Kind][0];
  if (Object.hasOwn(KIND_OF, value)) return value as ScopeType;
  throw new InvalidArgumentError(`must be one of: ${KIND_NAMES.join(', ')}`);
};

/** `--threshold 50 --threshold 80` (or `50,80`): percentages from 1 to 100; `none` for none at all. */
const thresholds = (value: string, previous: number[] = []): number[] => {
  if (value === 'none') return [];
  return [
    ...previous,
    ...collect(value).map((v) => {
      const n = Number(v.replace(/%$/, ''));
      if (!Number.isInteger(n) || n < 1 || n > 100) throw new InvalidArgumentError('must be a percentage from 1 to 100 (or none)');
      return n;
    }),
  ];
};

const shortened = (s: string, max = 40) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

const COLUMNS: Column<Budget>[] = [
  { header: 'ID', value: (b) => b.id },
  { header: 'NAME', value: (b) => shortened(b.name) },
  { header: 'SCOPE', value: (b) => scopeText(b.scope) },
  { header: 'WINDOW', value: (b) => b.window },
  { header: 'AMOUNT', value: (b) => usd(b.amountMicros) },
  { header: 'SPENT', value: (b) => usd(b.status.spentMicros) },
  { header: 'RESERVED', value: (b) => usd(b.status.reservedMicros) },
  { header: 'REMAINING', value: (b) => usd(b.status.remainingMicros) },
  { header: 'STATE', value: (b) => b.status.state, status: true },
  { header: 'RESETS', value: (b) => (b.status.windowEnd ? shortTime(b.status.windowEnd) : 'never') },
];

/** A budget for people, its money in USD and where it stands in its window; the API's JSON with `--json`. */
function printBudget(ctx: Context, b: Budget) {
  const out = ctx.out;
  if (out.json) {
    out.data(b);
    return;
  }
  const s = b.status;
  const percent = (micros: number) => `${Math.floor((micros * 100) / b.amountMicros)}%`;
  out.object(
    {
      id: b.id,
      name: b.name,
      scope: scopeText(b.scope),
      window: s.windowStart && s.windowEnd ? `${b.window}, from ${shortTime(s.windowStart)} to ${shortTime(s.windowEnd)}` : `${b.window} (never resets)`,
      amount: usd(b.amountMicros),
      spent: `${usd(s.spentMicros)} (${percent(s.spentMicros)})`,
      reserved: usd(s.reservedMicros),
      remaining: usd(s.remainingMicros),
      state: s.state,
      thresholds: b.thresholds.length ? b.thresholds.map((t) => `${t}%`) : 'none',
      'run reservation': b.runReservationMicros ? `${usd(b.runReservationMicros)} per run` : 'none (each call reserves its own estimate)',
      'when exhausted': b.onExhausted === 'wait' ? 'new runs wait for an admin (switchboard inbox --kind budget)' : 'new runs are refused (402)',
      created: shortTime(b.createdAt),
      updated: shortTime(b.updatedAt),
    },
    { status: ['state'] },
  );
}

type ListFlags = ListOptions & { scopeType?: ScopeType; scopeId?: string };
type CreateFlags = {
  name: string;
  scope: BudgetScope;
  window: BudgetWindow;
  amount: number;
  threshold?: number[];
  runReservation?: number;
  onExhausted?: BudgetExhaustedPolicy;
  idempotencyKey?: string;
};
type UpdateFlags = { name?: string; amount?: number; threshold?: number[]; runReservation?: number; onExhausted?: BudgetExhaustedPolicy; ifMatch?: string };

const ON_EXHAUSTED = 'what becomes of a new run the budget has no room for: reject (402) or wait (parked until an admin lets it run or room comes back)';

const MONEY = `
Amounts are in USD, as decimals of up to 6 places (the API counts micro-USD, 1 USD = 1,000,000):
50, 0.5 and 0.000366 are exact.`;

export function registerBudgets(program: Command, ctx: Context) {
  const budgets = examples(
    program.command('budgets').description('Cap what the application, an agent, an end-user, a key or a person spends per UTC day, per UTC month or in total'),
    [
      'switchboard budgets create --name "Support, monthly" --scope agent:agent_01jd4... --window month --amount 50 --threshold 50 --threshold 80',
      'switchboard budgets list',
      'switchboard budgets update bdg_01jd4... --amount 80',
    ],
  );

  examples(
    listOptions(
      budgets
        .command('list')
        .description('List budgets, newest first, with where each stands in its current window')
        .option('--scope-type <type>', `only budgets on this kind of scope: ${KIND_NAMES.join(', ')}`, scopeType)
        .option('--scope-id <id>', 'only budgets on this agent, end-user, key or person'),
    ),
    ['switchboard budgets list', 'switchboard budgets list --scope-type agent', 'switchboard budgets list --scope-id agent_01jd4... --json'],
  ).action(async (o: ListFlags) => {
    const query = { ...pageQuery(o), ...(o.scopeType ? { scopeType: o.scopeType } : {}), ...(o.scopeId ? { scopeId: o.scopeId } : {}) };
    await printList(ctx, ctx.client().budgets.list(query), COLUMNS, o, 'budgets');
  });

  examples(
    budgets
      .command('create')
      .description('Create a budget; it applies at once, counting what its scope already spent in the current window')
      .requiredOption('--name <name>', 'a name, for people')
      .requiredOption('--scope <scope>', 'what it caps: application, agent:agent_..., end-user:eu_..., api-key:key_... or user:user_...', scopeOf)
      .requiredOption('--window <window>', 'how long the amount lasts: day, month (UTC) or total (never resets)', oneOf(...WINDOWS))
      .requiredOption('--amount <usd>', 'the cap per window, in USD, e.g. 50 or 0.5', positiveUsd)
      .option('--threshold <percent>', 'send budget.threshold when spending reaches this percentage (repeatable; default 80; none for none)', thresholds)
      .option('--run-reservation <usd>', 'reserved for each run of the scope while it runs, in USD (default 0: each call reserves its own estimate)', parseUsd)
      .option('--on-exhausted <policy>', `${ON_EXHAUSTED}; default reject`, oneOf('reject', 'wait'))
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)')
      .addHelpText('after', MONEY),
    [
      'switchboard budgets create --name "Whole app, daily" --scope application --window day --amount 20',
      'switchboard budgets create --name "Support, monthly" --scope agent:agent_01jd4... --window month --amount 50 --threshold 50 --threshold 80 --run-reservation 0.5',
      'switchboard budgets create --name "Trial user" --scope end-user:eu_01jd4... --window total --amount 0.25 --json',
    ],
  ).action(async (o: CreateFlags) => {
    const body = {
      name: o.name,
      scope: o.scope,
      window: o.window,
      amountMicros: o.amount,
      ...(o.threshold !== undefined ? { thresholds: [...new Set(o.threshold)] } : {}),
      ...(o.runReservation !== undefined ? { runReservationMicros: o.runReservation } : {}),
      ...(o.onExhausted !== undefined ? { onExhausted: o.onExhausted } : {}),
    };
    printBudget(ctx, await ctx.client().budgets.create(body, { idempotencyKey: o.idempotencyKey }));
  });

  examples(budgets.command('get').description('Show a budget: spent, reserved and remaining in its current window, and its state').argument('<budgetId>'), [
    'switchboard budgets get bdg_01jd4...',
    'switchboard budgets get bdg_01jd4... --json | jq .status.remainingMicros',
  ]).action(async (id: string) => printBudget(ctx, await ctx.client().budgets.get(id)));

  examples(
    budgets
      .command('update')
      .description('Change a budget (its scope and window stay); a new amount applies at once to the current window')
      .argument('<budgetId>')
      .option('--name <name>', 'a new name')
      .option('--amount <usd>', 'a new cap per window, in USD', positiveUsd)
      .option('--threshold <percent>', 'the percentages that send budget.threshold, replacing the current ones (repeatable; none for none)', thresholds)
      .option('--run-reservation <usd>', 'reserved for each run created from now on, in USD (0 for none)', parseUsd)
      .option('--on-exhausted <policy>', ON_EXHAUSTED, oneOf('reject', 'wait'))
      .option('--if-match <etag>', 'only if the budget still has this ETag')
      .addHelpText('after', MONEY),
    [
      'switchboard budgets update bdg_01jd4... --amount 80',
      'switchboard budgets update bdg_01jd4... --threshold 50 --threshold 90 --run-reservation 0.25',
      'switchboard budgets update bdg_01jd4... --on-exhausted wait',
      'switchboard budgets update bdg_01jd4... --threshold none --json',
    ],
  ).action(async (id: string, o: UpdateFlags) => {
    const body: BudgetUpdate = {
      ...(o.name !== undefined ? { name: o.name } : {}),
      ...(o.amount !== undefined ? { amountMicros: o.amount } : {}),
      ...(o.threshold !== undefined ? { thresholds: [...new Set(o.threshold)] } : {}),
      ...(o.runReservation !== undefined ? { runReservationMicros: o.runReservation } : {}),
      ...(o.onExhausted !== undefined ? { onExhausted: o.onExhausted } : {}),
    };
    if (!Object.keys(body).length) throw new UsageError('Nothing to change: give --name, --amount, --threshold, --run-reservation or --on-exhausted.');
    printBudget(ctx, await ctx.client().budgets.update(id, body, { ifMatch: o.ifMatch }));
  });

  deleteCommand(budgets, ctx, {
    noun: 'budget',
    argument: 'budgetId',
    example: 'bdg_01jd4...',
    description: 'Delete a budget: what it capped is no longer capped by it, and what it had reserved is let go (the usage stays in the ledger)',
    remove: (id, options) => ctx.client().budgets.delete(id, options),
  });
}
