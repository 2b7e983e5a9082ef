import { createRequire } from 'node:module';
import { Command } from 'commander';
import { registerAdmin } from './commands/admin.js';
import { registerAgents } from './commands/agents.js';
import { registerApprovals } from './commands/approvals.js';
import { registerApi } from './commands/api.js';
import { registerApiKeys } from './commands/api-keys.js';
import { registerChat } from './commands/chat.js';
import { registerAuth } from './commands/auth.js';
import { registerBudgets } from './commands/budgets.js';
import { registerConnections } from './commands/connections.js';
import { registerInstallations } from './commands/installations.js';
import { registerCosts } from './commands/costs.js';
import { registerRunner } from './commands/runner.js';
import { registerKnowledge } from './commands/knowledge.js';
import { registerModels } from './commands/models.js';
import { registerRunners } from './commands/runners.js';
import { registerRuns } from './commands/runs.js';
import { registerSchedules } from './commands/schedules.js';
import { registerSecrets } from './commands/secrets.js';
import { registerTasks } from './commands/tasks.js';
import { registerTriggers } from './commands/triggers.js';
import { registerWebhooks } from './commands/webhooks.js';
import { configPath } from './config.js';
import { Context, DEFAULT_BASE_URL } from './context.js';
import { examples } from './lists.js';

const version = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** The `switchboard` command with every subcommand; parse it with `parseAsync()`. */
export function buildProgram(): Command {
  const program = new Command()
    .name('switchboard')
    .description('Command-line client of the Switchboard API')
    .version(version, '-V, --version', 'print the version')
    .option('--base-url <url>', `API base URL (env SWITCHBOARD_BASE_URL; default ${DEFAULT_BASE_URL})`)
    .option('--api-key <key>', 'API key, sbk_... (env SWITCHBOARD_API_KEY)')
    .option('--app-id <id>', 'application to act in, for admin keys (env SWITCHBOARD_APP_ID)')
    .option('--profile <name>', 'profile of the configuration file (env SWITCHBOARD_PROFILE; default "default")')
    .option('--json', 'machine output: the JSON the API returned, one document')
    .option('--no-color', 'no colours (also when NO_COLOR is set or stdout is not a terminal)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      `
Settings come from the flags, then the environment, then the profile saved by "switchboard login"
(${configPath()}), then the defaults.`,
    );
  examples(program, [
    'switchboard login',
    'switchboard agents create --name Echo --model echo',
    'switchboard runs create --agent agent_01jd4... --input \'{"question": "ping"}\' --follow',
    'switchboard agents list --json | jq ".data[].name"',
    'switchboard api GET /api/v1/organization',
  ]);

  const ctx = new Context(program);
  registerAuth(program, ctx);
  registerAgents(program, ctx);
  registerInstallations(program, ctx);
  registerRuns(program, ctx);
  registerApprovals(program, ctx);
  registerTasks(program, ctx);
  registerSchedules(program, ctx);
  registerTriggers(program, ctx);
  registerWebhooks(program, ctx);
  registerModels(program, ctx);
  registerChat(program, ctx);
  registerCosts(program, ctx);
  registerBudgets(program, ctx);
  registerSecrets(program, ctx);
  registerConnections(program, ctx);
  registerKnowledge(program, ctx);
  registerApiKeys(program, ctx);
  registerRunners(program, ctx);
  registerRunner(program, ctx);
  registerApi(program, ctx);
  registerAdmin(program, ctx);
  versionOfCommand(program);
  return program;
}

/**
 * Leaves `--version` to a command that has its own (`agents export --version 2`): commander reads the
 * root's options anywhere on the line, so `-V, --version` would print the CLI's version instead.
 */
function versionOfCommand(program: Command) {
  const parseOptions = program.parseOptions.bind(program);
  program.parseOptions = (args) => {
    let command = program;
    let at = -1;
    const end = args.includes('--') ? args.indexOf('--') : args.length;
    for (let i = 0; i < end; i++) {
      const sub = command.commands.find((c) => c.name() === args[i]);
      if (sub) [command, at] = [sub, i];
    }
    if (at < 0 || !command.options.some((o) => o.long === '--version')) return parseOptions(args);
    // Marked with NUL (no argument can hold one) so the root takes it for an operand, then handed on as the unknown option it is.
    const MARK = '\0';
    const marked = args.map((arg, i) => (i > at && i < end && (arg === '--version' || arg.startsWith('--version=')) ? MARK + arg : arg));
    const { operands, unknown } = parseOptions(marked);
    const first = operands.findIndex((arg) => arg.startsWith(MARK));
    if (first >= 0) unknown.unshift(...operands.splice(first));
    const unmark = (arg: string) => (arg.startsWith(MARK) ? arg.slice(MARK.length) : arg);
    return { operands: operands.map(unmark), unknown: unknown.map(unmark) };
  };
}
