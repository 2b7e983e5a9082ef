import type { Command } from 'commander';
import type { Runner, RunnerCreate } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { collect, oneOf, readJsonObject } from '../input.js';
import { deleteCommand, examples, listOptions, pageQuery, printList, printObject, printSecret, type ListOptions } from '../lists.js';
import { shortTime, type Column } from '../output.js';

const COLUMNS: Column<Runner>[] = [
  { header: 'ID', value: (r) => r.id },
  { header: 'NAME', value: (r) => r.name },
  { header: 'LABELS', value: (r) => r.labels },
  { header: 'LAST SEEN', value: (r) => shortTime(r.lastSeenAt) },
  { header: 'CREATED', value: (r) => shortTime(r.createdAt) },
];

export function registerRunners(program: Command, ctx: Context) {
  const runners = examples(program.command('runners').description('Manage registered runners (to start one, see "switchboard runner")'), [
    'switchboard runners list',
    'switchboard runners register --name gpu-1 --label gpu',
    'switchboard runners delete runner_01jd4...',
  ]);

  examples(
    listOptions(
      runners
        .command('list')
        .description('List runners, newest first')
        .option('--label <label>', 'only runners with this label')
        .option('--sort <field>', 'createdAt or name; prefix with - for descending', oneOf('createdAt', '-createdAt', 'name', '-name')),
    ),
    ['switchboard runners list', 'switchboard runners list --label gpu --json'],
  ).action(async (o: ListOptions & { label?: string; sort?: 'createdAt' | '-createdAt' | 'name' | '-name' }) => {
    const query = { ...pageQuery(o), ...(o.label ? { label: o.label } : {}), ...(o.sort ? { sort: o.sort } : {}) };
    await printList(ctx, ctx.client().runners.list(query), COLUMNS, o, 'runners');
  });

  examples(
    runners
      .command('register')
      .description('Register a runner; its sbr_ token is shown once (start it with: switchboard runner --runner-id <id> --token <token>)')
      .option('--name <name>', 'display name')
      .option('--label <label>', 'label (repeatable, or comma-separated): the runner claims runs of agents whose labels it all has', collect)
      .option('--data <json>', 'the whole request body: a JSON object, @file, or - for stdin')
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)'),
    ['switchboard runners register --name gpu-1 --label gpu,eu', 'switchboard runners register --name ci --json | jq -r .token'],
  ).action(async (o: { name?: string; label?: string[]; data?: string; idempotencyKey?: string }) => {
    const body: Record<string, unknown> = o.data ? await readJsonObject(o.data, '--data') : {};
    if (o.name !== undefined) body.name = o.name;
    if (o.label !== undefined) body.labels = o.label;
    printSecret(ctx, await ctx.client().runners.register(body as RunnerCreate, { idempotencyKey: o.idempotencyKey }), 'token');
  });

  examples(runners.command('get').description('Show a runner').argument('<runnerId>'), ['switchboard runners get runner_01jd4...']).action(async (id: string) =>
    printObject(ctx, await ctx.client().runners.get(id)),
  );

  deleteCommand(runners, ctx, {
    noun: 'runner',
    argument: 'runnerId',
    example: 'runner_01jd4...',
    description: 'Delete a runner: its token stops working',
    remove: (id, o) => ctx.client().runners.delete(id, o),
  });
}
