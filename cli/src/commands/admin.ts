import { dirname } from 'node:path';
import type { Command } from 'commander';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { collect } from '../input.js';
import { examples, printObject, printSecret } from '../lists.js';

type Schema = { version: string; migrations: number };
type Scope = 'read' | 'write' | 'admin';

/** What the CLI uses of `@switchboard/server/admin`: the server package's, since the database code is the server's. */
type AdminModule = {
  AdminError: new (...args: never[]) => Error;
  backupDatabase(o: {
    database?: string;
    output?: string;
  }): Promise<{ database: string; path: string; bytes: number; sha256: string; schema: Schema; durationMs: number }>;
  restoreDatabase(o: { backup: string; database?: string; keepPrevious?: boolean }): Promise<{
    database: string;
    backup: string;
    bytes: number;
    sha256: string;
    schema: Schema;
    previous: string | null;
    masterKey: string | null;
  }>;
  createAdminKey(o: { database?: string; organization?: string; application?: string; name?: string; scopes?: Scope[] }): Promise<{
    database: string;
    organizationId: string;
    applicationId: string;
    actor: string;
    key: { id: string; name: string; scopes: Scope[]; prefix: string; secret: string };
  }>;
};

// A name in a variable: the CLI is published without the server, which is an optional peer found at run time.
const ADMIN_MODULE = '@switchboard/server/admin';

async function loadAdmin(): Promise<AdminModule> {
  try {
    return (await import(ADMIN_MODULE)) as AdminModule;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new CliError(
        "switchboard admin works on the server's own database, so it needs the Switchboard server package (@switchboard/server) " +
          'installed and built beside the CLI: run it on the server\'s machine, in the Switchboard installation ("npm run build", then "npx switchboard admin ...").',
      );
    }
    throw err;
  }
}

/** Runs an admin operation, its refusals said as the CLI's own one-line errors. */
async function run<T>(work: (admin: AdminModule) => Promise<T>): Promise<T> {
  const admin = await loadAdmin();
  try {
    return await work(admin);
  } catch (err) {
    if (err instanceof admin.AdminError) throw new CliError(err.message);
    throw err;
  }
}

/** A result with its schema as two flat fields, as printed. */
const withSchema = <T extends { schema: Schema }>({ schema, ...rest }: T) => ({ ...rest, schemaVersion: schema.version, migrations: schema.migrations });

const SCOPES: Scope[] = ['read', 'write', 'admin'];
const DATABASE_OPTION = [
  '--database <url>',
  'the database: a SQLite file path (or sqlite:<path>) or postgres://... (default: DATABASE_URL, as the server reads it)',
] as const;

export function registerAdmin(program: Command, ctx: Context) {
  const admin = examples(
    program
      .command('admin')
      .description("Operator commands on the server's machine, against its database directly (not over the API): backups, restores, a new admin key"),
    [
      'switchboard admin backup --output /var/backups/switchboard/',
      'switchboard admin restore switchboard-20261206T211500Z.db',
      'switchboard admin create-key',
    ],
  );

  examples(
    admin
      .command('backup')
      .description(
        "Copy the SQLite database, safe while the server runs (SQLite's online backup), check the copy and print its size, SHA-256 and schema version",
      )
      .option(...DATABASE_OPTION)
      .option('-o, --output <path>', 'file to write, or a directory to write switchboard-<time>.db in (default: that name in the current directory)'),
    ['switchboard admin backup', 'switchboard admin backup --database ./data/switchboard.db --output /var/backups/switchboard/'],
  ).action(async (o: { database?: string; output?: string }) => {
    printObject(ctx, withSchema(await run((a) => a.backupDatabase(o))));
    if (!ctx.out.json)
      ctx.out.note('The master key (master.key beside the database, or SWITCHBOARD_MASTER_KEY) is not in the backup: keep a copy of it apart.');
  });

  examples(
    admin
      .command('restore')
      .description(
        'Replace the SQLite database with a backup: checks the backup (integrity, a Switchboard database, not newer than this version), ' +
          'refuses while the database is open, keeps the previous file beside it',
      )
      .argument('<backup>', 'the backup file')
      .option(...DATABASE_OPTION)
      .option('--no-keep-previous', 'delete the database it replaces instead of keeping it as <database>.before-restore-<time>'),
    ['switchboard admin restore switchboard-20261206T211500Z.db', 'switchboard admin restore backup.db --database /srv/switchboard/data/switchboard.db'],
  ).action(async (backup: string, o: { database?: string; keepPrevious: boolean }) => {
    const result = await run((a) => a.restoreDatabase({ backup, database: o.database, keepPrevious: o.keepPrevious }));
    printObject(ctx, withSchema(result));
    if (ctx.out.json) return;
    if (!result.masterKey) {
      ctx.out.note(
        `No master key for it: put the master.key of the server the backup came from in ${dirname(result.database)}, or set SWITCHBOARD_MASTER_KEY, before starting the server, or its secrets cannot be opened.`,
      );
    }
    ctx.out.note('Start the server on it: it upgrades an older schema on start.');
  });

  examples(
    admin
      .command('create-key')
      .description('Issue a new application API key (admin scope by default) straight into the database when the admin key is lost; recorded in the audit log')
      .option(...DATABASE_OPTION)
      .option('--organization <id>', 'organization (default: the first one, created on the first start)')
      .option('--application <id>', "application (default: the organization's first)")
      .option('--name <name>', 'display name (default "recovered by switchboard admin create-key")')
      .option('--scope <scope>', `permission: ${SCOPES.join(', ')} (repeatable, or comma-separated; default admin)`, collect),
    ['switchboard admin create-key', 'DATABASE_URL=postgres://... switchboard admin create-key --organization org_01jd4... --json | jq -r .secret'],
  ).action(async (o: { database?: string; organization?: string; application?: string; name?: string; scope?: string[] }) => {
    const unknown = o.scope?.filter((s) => !(SCOPES as string[]).includes(s));
    if (unknown?.length) throw new CliError(`--scope ${unknown.join(', ')}: must be one of ${SCOPES.join(', ')}`, 2);
    const result = await run((a) =>
      a.createAdminKey({
        database: o.database,
        organization: o.organization,
        application: o.application,
        name: o.name,
        scopes: o.scope as Scope[] | undefined,
      }),
    );
    printSecret(ctx, { ...result.key, organizationId: result.organizationId, database: result.database, recordedAs: `system (${result.actor})` });
  });
}
