import { InvalidArgumentError, type Command } from 'commander';
import type { AgentPackage, Installation, InstallationChannel, InstallationCreate, InstallationUpdate, JsonObject } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { collect, integer, oneOf, readJsonObject } from '../input.js';
import { examples, listOptions, pageQuery, printList, printObject, type ListOptions } from '../lists.js';
import { shortTime, type Column } from '../output.js';

const CHANNELS: InstallationChannel[] = ['latest', 'stable'];

/** What an installation tracks: a channel, a pinned version, or nothing (a package). */
const follows = (i: Installation) => i.channel ?? (i.pinnedVersion !== null ? `pinned ${i.pinnedVersion}` : null);

const COLUMNS: Column<Installation>[] = [
  { header: 'ID', value: (i) => i.id },
  { header: 'AGENT', value: (i) => i.agentId },
  { header: 'PACKAGE', value: (i) => i.packageName },
  { header: 'SOURCE', value: (i) => i.sourceAgentId ?? 'package' },
  { header: 'FOLLOWS', value: (i) => follows(i) },
  { header: 'VERSION', value: (i) => i.sourceVersion },
  { header: 'MODEL', value: (i) => i.model },
  { header: 'LOCKED', value: (i) => i.lockedInputs },
  { header: 'SYNC', value: (i) => (i.syncError ? 'error' : 'ok'), status: true },
  { header: 'CREATED', value: (i) => shortTime(i.createdAt) },
];

/** `--default key=value`, repeatable: the value as JSON when it parses (`2`, `true`, `null`, `["a"]`), else as a string. */
const inputDefault = (value: string, previous: JsonObject = {}): JsonObject => {
  const at = value.indexOf('=');
  if (at < 1) throw new InvalidArgumentError('must be key=value');
  const raw = value.slice(at + 1);
  let parsed: JsonObject[string];
  try {
    parsed = JSON.parse(raw) as JsonObject[string];
  } catch {
    parsed = raw;
  }
  return { ...previous, [value.slice(0, at)]: parsed };
};

/** A package exported by `switchboard agents export`, from a file or `-` (stdin). */
const readPackage = async (path: string) => (await readJsonObject(path === '-' ? '-' : `@${path}`, 'the package')) as unknown as AgentPackage;

/** An installation for people, and where it stands with its source; the API's JSON with `--json`. */
function printInstallation(ctx: Context, i: Installation) {
  printObject(ctx, i);
  if (!ctx.out.json && i.syncError) ctx.out.note(`switchboard: the agent stays on version ${i.sourceVersion ?? '-'} of its source: ${i.syncError}`);
}

type ContentFlags = { model?: string; default?: JsonObject; lock?: string[] };
type InstallFlags = ContentFlags & { from?: string; version?: number; channel?: InstallationChannel; name?: string; idempotencyKey?: string };
type UpdateFlags = ContentFlags & { version?: number; channel?: InstallationChannel; package?: string; ifMatch?: string };

const INPUT = `
--default values are JSON when they parse as JSON (2, true, null, ["a"]) and strings otherwise:
give '"2"' for the string "2". A locked field keeps the installation's value: a run, schedule or
trigger that sets it to another is refused (400 locked-input-field).`;

export function registerInstallations(program: Command, ctx: Context) {
  const installations = examples(
    program
      .command('installations')
      .description(
        'Agents installed in the application from a package or from an agent of the organization, pinned to a version or following its latest or stable one',
      ),
    [
      'switchboard agents export agent_01jd4... --output triage.json',
      'switchboard --app-id app_01jd9... installations install triage.json --default language=fr --lock language',
      'switchboard --app-id app_01jd9... installations install --from agent_01jd4... --channel stable',
      'switchboard installations list',
    ],
  );

  examples(listOptions(installations.command('list').description('List the installations, newest first')), [
    'switchboard installations list',
    'switchboard installations list --all --json | jq -r ".[].agentId"',
  ]).action(async (o: ListOptions) => {
    await printList(ctx, ctx.client().installations.list(pageQuery(o)), COLUMNS, o, 'installations');
  });

  examples(
    installations
      .command('get')
      .description('Show an installation: what it installed, what it follows, its input defaults and locks')
      .argument('<installationId>'),
    ['switchboard installations get inst_01jd4...', 'switchboard installations get inst_01jd4... --json | jq .syncError'],
  ).action(async (id: string) => printInstallation(ctx, await ctx.client().installations.get(id)));

  examples(
    installations
      .command('install')
      .description(
        'Install an agent: from a package file (switchboard agents export), or --from an agent of the organization; it becomes an agent of the application whose content the installation manages',
      )
      .argument('[package]', 'a package file, or - for standard input')
      .option('--from <agentId>', 'install this agent of the organization instead of a package (its application: its own, or any with an admin key)')
      .option('--version <n>', 'with --from: pin this version (default: its current one)', integer(1, 1_000_000))
      .option('--channel <channel>', `with --from: follow its newest version (latest) or the one its author marks stable`, oneOf(...CHANNELS))
      .option('--name <name>', "the installed agent's name (default: the package's)")
      .option('--model <alias>', "a model alias to use instead of the package's")
      .option('--default <key=value>', "an input default, over the schema's defaults and under a run's input (repeatable)", inputDefault)
      .option('--lock <field>', 'an input field runs cannot set (repeatable, or comma-separated)', collect)
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)')
      .addHelpText('after', INPUT),
    [
      'switchboard installations install triage.json',
      'switchboard agents export agent_01jd4... | switchboard --app-id app_01jd9... installations install - --name "Triage (staging)"',
      'switchboard installations install --from agent_01jd4... --channel latest --default language=fr --default priority=2 --lock language',
      'switchboard installations install --from agent_01jd4... --version 3 --model gpt-4.1-mini --json',
    ],
  ).action(async (file: string | undefined, o: InstallFlags) => {
    if ((file === undefined) === (o.from === undefined))
      throw new UsageError('Give a package file (or - for standard input) or --from <agentId>: one of them.');
    if (o.from === undefined && (o.version !== undefined || o.channel !== undefined))
      throw new UsageError('--version and --channel choose what to follow of an agent: give --from with them.');
    if (o.version !== undefined && o.channel !== undefined) throw new UsageError('Give --version or --channel, not both: pin a version or follow a channel.');
    const body: InstallationCreate = {
      ...(o.from !== undefined
        ? {
            source: {
              agentId: o.from,
              ...(o.version !== undefined ? { version: o.version } : {}),
              ...(o.channel !== undefined ? { channel: o.channel } : {}),
            },
          }
        : { package: await readPackage(file!) }),
      ...(o.name !== undefined ? { name: o.name } : {}),
      ...(o.model !== undefined ? { model: o.model } : {}),
      ...(o.default !== undefined ? { inputDefaults: o.default } : {}),
      ...(o.lock !== undefined ? { lockedInputs: o.lock } : {}),
    };
    const installation = await ctx.client().installations.create(body, { idempotencyKey: o.idempotencyKey });
    printInstallation(ctx, installation);
    if (!ctx.out.json) {
      // The agent is in the application --app-id named: running it needs the same flag.
      const { appId, sources } = ctx.settings();
      const where = sources.appId === 'flag' ? ` --app-id ${appId}` : '';
      ctx.out.note(ctx.out.dim(`Installed as agent ${installation.agentId}: switchboard${where} runs create --agent ${installation.agentId} runs it.`));
    }
  });

  examples(
    installations
      .command('update')
      .description('Change an installation: pin a version, follow a channel or install a newer package; its model, input defaults or locks')
      .argument('<installationId>')
      .option('--version <n>', 'pin this version of the source agent', integer(1, 1_000_000))
      .option('--channel <channel>', 'follow this channel of the source agent: latest or stable', oneOf(...CHANNELS))
      .option('--package <file>', 'install this package over one installed from a package (- for standard input)')
      .option('--model <alias>', 'a model alias to use instead of the package\'s ("" for the package\'s)')
      .option('--default <key=value>', 'set an input default, key=null to remove one; the others stay (repeatable)', inputDefault)
      .option('--lock <field>', 'the locked input fields, replacing the current ones (repeatable, or comma-separated; none for none)', collect)
      .option('--if-match <etag>', 'only if the installation still has this ETag')
      .addHelpText('after', INPUT),
    [
      'switchboard installations update inst_01jd4... --version 3',
      'switchboard installations update inst_01jd4... --channel stable',
      'switchboard agents export agent_01jd4... --version 4 | switchboard installations update inst_01jd4... --package -',
      'switchboard installations update inst_01jd4... --default language=es --default tone=null --lock language,priority',
      'switchboard installations update inst_01jd4... --model "" --lock none',
    ],
  ).action(async (id: string, o: UpdateFlags) => {
    if (o.version !== undefined && o.channel !== undefined) throw new UsageError('Give --version or --channel, not both: pin a version or follow a channel.');
    const body: InstallationUpdate = {
      ...(o.version !== undefined ? { version: o.version } : {}),
      ...(o.channel !== undefined ? { channel: o.channel } : {}),
      ...(o.package !== undefined ? { package: await readPackage(o.package) } : {}),
      ...(o.model !== undefined ? { model: o.model === '' ? null : o.model } : {}),
      ...(o.default !== undefined ? { inputDefaults: o.default } : {}),
      ...(o.lock !== undefined ? { lockedInputs: o.lock.filter((field) => field !== 'none') } : {}),
    };
    if (!Object.keys(body).length) throw new UsageError('Nothing to change: give --version, --channel, --package, --model, --default or --lock.');
    printInstallation(ctx, await ctx.client().installations.update(id, body, { ifMatch: o.ifMatch }));
  });

  examples(
    installations
      .command('uninstall')
      .description('Uninstall: deletes the installation and its agent (retired instead when it has runs); refused while a schedule or trigger starts it')
      .argument('<installationId>')
      .option('--if-match <etag>', 'only if the installation still has this ETag'),
    ['switchboard installations uninstall inst_01jd4...'],
  ).action(async (id: string, o: { ifMatch?: string }) => {
    await ctx.client().installations.delete(id, { ifMatch: o.ifMatch });
    if (!ctx.out.json) ctx.out.print(`Uninstalled ${id}: its agent is deleted, or retired when it has runs.`);
  });
}
