import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Agent, AgentCreate, AgentUpdate, AgentVersion } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { collect, integer, oneOf, readArgument, readJsonObject } from '../input.js';
import { deleteCommand, examples, listOptions, pageQuery, printList, printObject, transitionCommands, type ListOptions } from '../lists.js';
import { shortTime, type Column } from '../output.js';

const COLUMNS: Column<Agent>[] = [
  { header: 'ID', value: (a) => a.id },
  { header: 'NAME', value: (a) => a.name },
  { header: 'MODEL', value: (a) => a.model },
  { header: 'STATUS', value: (a) => a.status, status: true },
  { header: 'VERSION', value: (a) => a.version },
  { header: 'LABELS', value: (a) => a.labels },
  { header: 'CREATED', value: (a) => shortTime(a.createdAt) },
];

const VERSION_COLUMNS: Column<AgentVersion>[] = [
  { header: 'VERSION', value: (v) => v.version },
  { header: 'MODEL', value: (v) => v.model },
  { header: 'INSTRUCTIONS', value: (v) => (v.instructions.length > 50 ? `${v.instructions.slice(0, 49)}…` : v.instructions) },
  { header: 'CREATED', value: (v) => shortTime(v.createdAt) },
];

type AgentFlags = {
  data?: string;
  name?: string;
  description?: string;
  instructions?: string;
  model?: string;
  runtime?: 'runner' | 'http';
  url?: string;
  label?: string[];
  config?: string;
  timeout?: number;
  maxAttempts?: number;
  maxConcurrentRuns?: number;
  idempotencyKey?: string;
  ifMatch?: string;
};

/** The fields an agent is created or updated with; `--data` gives the whole body, flags override its members. */
function agentFields(command: Command): Command {
  return command
    .option('--name <name>', 'display name')
    .option('--model <model>', 'model identifier, e.g. gpt-4.1 (the built-in runner runs it through the model gateway; "echo" answers with the input)')
    .option('--instructions <text>', 'system instructions, or @file to read them from a file')
    .option('--description <text>', 'free-text description')
    .option('--label <label>', 'label that runners must have (repeatable, or comma-separated)', collect)
    .option('--runtime <runtime>', 'how runs are executed: runner or http', oneOf('runner', 'http'))
    .option('--url <url>', 'URL the runner POSTs runs to (runtime http)')
    .option('--config <json>', 'free-form configuration: a JSON object, or @file')
    .option('--timeout <seconds>', 'limit: seconds per attempt', integer(1, 86_400 * 7))
    .option('--max-attempts <n>', 'limit: attempts when a runner is lost', integer(1, 100))
    .option('--max-concurrent-runs <n>', 'limit: runs of this agent executing at once', integer(1, 100_000))
    .option('--data <json>', 'the whole request body: a JSON object, @file, or - for stdin');
}

async function agentBody(o: AgentFlags, update: boolean): Promise<Record<string, unknown>> {
  const body = o.data ? await readJsonObject(o.data, '--data') : {};
  if (o.name !== undefined) body.name = o.name;
  if (o.model !== undefined) body.model = o.model;
  if (o.instructions !== undefined) body.instructions = await readArgument(o.instructions, '--instructions');
  if (o.description !== undefined) body.description = update && o.description === '' ? null : o.description;
  if (o.label !== undefined) body.labels = o.label;
  if (o.url !== undefined) body.url = update && o.url === '' ? null : o.url;
  if (o.runtime !== undefined) body.runtime = o.runtime;
  else if (!update && o.url) body.runtime = 'http';
  if (o.config !== undefined) body.config = await readJsonObject(o.config, '--config');
  const limits = {
    ...(o.timeout !== undefined ? { timeoutSeconds: o.timeout } : {}),
    ...(o.maxAttempts !== undefined ? { maxAttempts: o.maxAttempts } : {}),
    ...(o.maxConcurrentRuns !== undefined ? { maxConcurrentRuns: o.maxConcurrentRuns } : {}),
  };
  if (Object.keys(limits).length) body.limits = { ...(body.limits as object | undefined), ...limits };
  return body;
}

export function registerAgents(program: Command, ctx: Context) {
  const agents = examples(program.command('agents').description('Create, inspect and change agents'), [
    'switchboard agents list',
    'switchboard agents create --name "Support bot" --model gpt-4.1 --label eu',
    'switchboard agents pause agent_01jd4...',
  ]);

  examples(
    listOptions(
      agents
        .command('list')
        .description('List agents, newest first')
        .option('--status <status>', 'only agents with this status: active, paused or retired', oneOf('active', 'paused', 'retired'))
        .option('--label <label>', 'only agents with this label')
        .option('-q, --query <text>', 'only agents whose name or description contains this text')
        .option(
          '--sort <field>',
          'createdAt, updatedAt or name; prefix with - for descending',
          oneOf('createdAt', '-createdAt', 'updatedAt', '-updatedAt', 'name', '-name'),
        )
        .option('--created-after <time>', 'only agents created at or after this ISO 8601 time')
        .option('--created-before <time>', 'only agents created before this ISO 8601 time'),
    ),
    ['switchboard agents list', 'switchboard agents list --status active --label eu --page-size 50', 'switchboard agents list --all --json | jq -r ".[].id"'],
  ).action(
    async (
      o: ListOptions & {
        status?: Agent['status'];
        label?: string;
        query?: string;
        sort?: 'createdAt' | '-createdAt' | 'updatedAt' | '-updatedAt' | 'name' | '-name';
        createdAfter?: string;
        createdBefore?: string;
      },
    ) => {
      const query = {
        ...pageQuery(o),
        ...(o.status ? { status: o.status } : {}),
        ...(o.label ? { label: o.label } : {}),
        ...(o.query ? { q: o.query } : {}),
        ...(o.sort ? { sort: o.sort } : {}),
        ...(o.createdAfter ? { createdAfter: o.createdAfter } : {}),
        ...(o.createdBefore ? { createdBefore: o.createdBefore } : {}),
      };
      await printList(ctx, ctx.client().agents.list(query), COLUMNS, o, 'agents');
    },
  );

  examples(agents.command('get').description('Show an agent').argument('<agentId>'), [
    'switchboard agents get agent_01jd4...',
    'switchboard agents get agent_01jd4... --json',
  ]).action(async (agentId: string) => printObject(ctx, await ctx.client().agents.get(agentId)));

  examples(
    agentFields(agents.command('create').description('Create an agent (active, at version 1)')).option(
      '--idempotency-key <key>',
      'makes retrying this exact request safe (one is generated otherwise)',
    ),
    [
      'switchboard agents create --name "Support bot" --model gpt-4.1 --instructions @prompt.md --label eu',
      'switchboard agents create --name Echo --model echo',
      'switchboard agents create --name Remote --model remote --runtime http --url https://agents.example.com/run',
      'switchboard agents create --data @agent.json',
    ],
  ).action(async (o: AgentFlags) => {
    const body = (await agentBody(o, false)) as AgentCreate;
    const agent = await ctx.client().agents.create(body, { idempotencyKey: o.idempotencyKey });
    printObject(ctx, agent);
  });

  examples(
    agentFields(
      agents
        .command('update')
        .description('Change an agent (a JSON merge patch); changing instructions, model, tools or config makes a new version')
        .argument('<agentId>'),
    ).option('--if-match <etag>', 'only if the agent still has this ETag'),
    [
      'switchboard agents update agent_01jd4... --model gpt-4.1-mini',
      'switchboard agents update agent_01jd4... --instructions @prompt.md --label eu --label gpu',
      'switchboard agents update agent_01jd4... --description ""          clears the description',
      'echo \'{"limits": {"timeoutSeconds": 120}}\' | switchboard agents update agent_01jd4... --data -',
    ],
  ).action(async (agentId: string, o: AgentFlags) => {
    const body = (await agentBody(o, true)) as AgentUpdate;
    printObject(ctx, await ctx.client().agents.update(agentId, body, { ifMatch: o.ifMatch }));
  });

  deleteCommand(agents, ctx, {
    noun: 'agent',
    argument: 'agentId',
    example: 'agent_01jd4...',
    description: 'Delete an agent',
    remove: (id, o) => ctx.client().agents.delete(id, o),
  });

  transitionCommands(agents, ctx, {
    argument: 'agentId',
    example: 'agent_01jd4...',
    actions: [
      ['pause', 'Pause an agent: it accepts no new runs until resumed'],
      ['resume', 'Resume a paused agent'],
      ['retire', 'Retire an agent for good: it accepts no new runs'],
    ],
    run: (action, id) => ctx.client().agents[action](id),
  });

  examples(
    listOptions(
      agents
        .command('versions')
        .description("List an agent's versions (newest first), or show one")
        .argument('<agentId>')
        .argument('[version]', 'a version number: show that version', integer(1, 1_000_000_000)),
    ),
    ['switchboard agents versions agent_01jd4...', 'switchboard agents versions agent_01jd4... 2 --json'],
  ).action(async (agentId: string, version: number | undefined, o: ListOptions) => {
    const sb = ctx.client();
    if (version !== undefined) return printObject(ctx, await sb.agents.versions.get(agentId, version));
    await printList(ctx, sb.agents.versions.list(agentId, pageQuery(o)), VERSION_COLUMNS, o, 'versions');
  });

  examples(
    agents
      .command('export')
      .description('Print a version of an agent as a package another application or organization can install (switchboard installations install)')
      .argument('<agentId>')
      .option('--version <n>', 'the version to export (default: the current one)', integer(1, 1_000_000))
      .option('-o, --output <file>', 'write the package to this file instead of stdout')
      .addHelpText(
        'after',
        `
Secrets, connections and knowledge bases are named in the package, never carried. Its digest covers
its content: a package edited by hand must leave "digest" out to be installed.`,
      ),
    [
      'switchboard agents export agent_01jd4... > triage.json',
      'switchboard agents export agent_01jd4... --version 2 --output triage-v2.json',
      'switchboard agents export agent_01jd4... | switchboard --app-id app_01jd9... installations install -',
    ],
  ).action(async (agentId: string, o: { version?: number; output?: string }) => {
    const sb = ctx.client();
    const version = o.version ?? (await sb.agents.get(agentId)).version;
    const pkg = await sb.agents.versions.export(agentId, version);
    const out = ctx.out;
    if (o.output === undefined || o.output === '-') {
      out.data(pkg);
      return;
    }
    try {
      writeFileSync(o.output, `${JSON.stringify(pkg, null, 2)}\n`);
    } catch (err) {
      throw new CliError(`Cannot write the package to ${o.output}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!out.json) out.note(`Exported version ${version} of ${agentId} to ${o.output} (${pkg.digest ?? 'no digest'}).`);
  });
}
