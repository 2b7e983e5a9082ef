import type { Command } from 'commander';
import type { Secret, SecretAccess, SecretVersion } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { askSecret, integer, interactive, readStdin } from '../input.js';
import { deleteCommand, examples, listOptions, pageQuery, printList, printObject, type ListOptions } from '../lists.js';
import { shortTime, type Column } from '../output.js';

const NAME = /^[A-Z][A-Z0-9_]{0,63}$/;

const COLUMNS: Column<Secret>[] = [
  { header: 'ID', value: (s) => s.id },
  { header: 'NAME', value: (s) => s.name },
  { header: 'VERSION', value: (s) => s.currentVersion },
  { header: 'LAST ACCESSED', value: (s) => (s.lastAccessedAt ? shortTime(s.lastAccessedAt) : 'never') },
  { header: 'DESCRIPTION', value: (s) => s.description ?? '' },
];
const VERSION_COLUMNS: Column<SecretVersion>[] = [
  { header: 'VERSION', value: (v) => v.version },
  { header: 'SET', value: (v) => shortTime(v.createdAt) },
];
const ACCESS_COLUMNS: Column<SecretAccess>[] = [
  { header: 'WHEN', value: (a) => shortTime(a.createdAt) },
  { header: 'VERSION', value: (a) => a.version },
  { header: 'RUN', value: (a) => a.runId },
  { header: 'RUNNER', value: (a) => a.runnerId },
];

/** A secret named by its id (`sec_...`) or its name, as people remember it. */
async function secretIdOf(ctx: Context, ref: string): Promise<string> {
  if (ref.startsWith('sec_')) return ref;
  if (!NAME.test(ref)) throw new UsageError(`"${ref}" is neither a secret id (sec_...) nor a name (upper case, digits and _, e.g. STRIPE_API_KEY).`);
  const [found] = (await ctx.client().secrets.list({ name: ref })).data;
  if (!found) throw new UsageError(`The application has no secret named ${ref}: switchboard secrets set ${ref} creates it.`);
  return found.id;
}

/**
 * The value, from standard input only: never an argument, which shells keep in their history and
 * other users see in the process list. Typed without echo on a terminal; piped otherwise, without
 * the newline that ends the last line.
 */
async function valueFromStdin(name: string): Promise<string> {
  const value = interactive() ? await askSecret(`Value of ${name} (input hidden)`) : (await readStdin()).replace(/\r?\n$/, '');
  if (!value) throw new UsageError(`No value on standard input for ${name}: pipe it in (printf %s "$VALUE" | switchboard secrets set ${name}) or type it.`);
  return value;
}

type SetFlags = { description?: string; idempotencyKey?: string };

export function registerSecrets(program: Command, ctx: Context) {
  const secrets = examples(
    program
      .command('secrets')
      .description("Named values of the application (API keys, passwords) for its agents' runs: written from standard input, listed as metadata, never shown"),
    [
      'switchboard secrets list',
      'printf %s "$STRIPE_KEY" | switchboard secrets set STRIPE_API_KEY --description "Refunds"',
      'switchboard secrets accesses STRIPE_API_KEY',
    ],
  );

  examples(
    secrets
      .command('set')
      .description('Create a secret, or give an existing one a new value (a new version), reading the value from standard input (never from an argument)')
      .argument('<name>', 'the name agents reference it by: upper case, digits and _, e.g. STRIPE_API_KEY')
      .option('--description <text>', 'what it is for, for people')
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)'),
    [
      'switchboard secrets set CRM_TOKEN   # asks for it, without echo',
      'switchboard secrets set DB_PASSWORD --description "Reporting replica" < password.txt',
      'printf %s "$STRIPE_KEY" | switchboard secrets set STRIPE_API_KEY',
    ],
  ).action(async (name: string, o: SetFlags) => {
    if (!NAME.test(name))
      throw new UsageError(`"${name}" is not a secret name: upper case letters, digits and _, starting with a letter (e.g. STRIPE_API_KEY).`);
    const value = await valueFromStdin(name);
    const client = ctx.client();
    const [existing] = (await client.secrets.list({ name })).data;
    if (!existing) {
      printObject(
        ctx,
        await client.secrets.create(
          { name, value, ...(o.description !== undefined ? { description: o.description } : {}) },
          { idempotencyKey: o.idempotencyKey },
        ),
      );
      return;
    }
    await client.secrets.versions.create(existing.id, { value }, { idempotencyKey: o.idempotencyKey });
    if (o.description !== undefined) await client.secrets.update(existing.id, { description: o.description });
    printObject(ctx, await client.secrets.get(existing.id));
  });

  examples(listOptions(secrets.command('list').description('List the secrets, newest first: names, versions and last access, never a value')), [
    'switchboard secrets list',
    'switchboard secrets list --all --json',
  ]).action(async (o: ListOptions) => {
    await printList(ctx, ctx.client().secrets.list(pageQuery(o)), COLUMNS, o, 'secrets');
  });

  examples(secrets.command('get').description("Show a secret's metadata (never its value)").argument('<secret>', 'its name or id'), [
    'switchboard secrets get STRIPE_API_KEY',
    'switchboard secrets get sec_01jd4... --json',
  ]).action(async (ref: string) => printObject(ctx, await ctx.client().secrets.get(await secretIdOf(ctx, ref))));

  examples(listOptions(secrets.command('versions').description("List a secret's versions, newest first").argument('<secret>', 'its name or id')), [
    'switchboard secrets versions STRIPE_API_KEY',
  ]).action(async (ref: string, o: ListOptions) => {
    const id = await secretIdOf(ctx, ref);
    await printList(ctx, ctx.client().secrets.versions.list(id, pageQuery(o)), VERSION_COLUMNS, o, 'versions');
  });

  examples(
    listOptions(
      secrets
        .command('accesses')
        .description('List the deliveries of a secret, newest first: which version went to which runner for which run')
        .argument('<secret>', 'its name or id')
        .option('--version <n>', 'only the deliveries of this version', integer(1, 2_147_483_647)),
    ),
    ['switchboard secrets accesses STRIPE_API_KEY', 'switchboard secrets accesses STRIPE_API_KEY --version 1 --all --json'],
  ).action(async (ref: string, o: ListOptions & { version?: number }) => {
    const id = await secretIdOf(ctx, ref);
    await printList(
      ctx,
      ctx.client().secrets.accesses.list(id, { ...pageQuery(o), ...(o.version !== undefined ? { version: o.version } : {}) }),
      ACCESS_COLUMNS,
      o,
      'accesses',
    );
  });

  deleteCommand(secrets, ctx, {
    noun: 'secret',
    argument: 'secret',
    example: 'STRIPE_API_KEY',
    description: 'Delete a secret and all its versions; runs claimed afterwards whose agent references it fail (secret_missing)',
    remove: async (ref, options) => ctx.client().secrets.delete(await secretIdOf(ctx, ref), options),
  });
}
