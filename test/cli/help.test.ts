import { afterAll, describe, expect, it } from 'vitest';
import { cli, tempHome } from './cli-helpers.js';

const h = tempHome();
afterAll(() => h.cleanup());

const help = async (command: string[]) => {
  const result = await cli([...command, '--help'], { env: h.env });
  expect(result.code, command.join(' ')).toBe(0);
  return result.stdout;
};

/** The subcommands a help text lists under "Commands:" (without commander's own `help`). */
const commandsOf = (text: string) =>
  (text.split('\nCommands:\n')[1]?.split('\n\n')[0] ?? '')
    .split('\n')
    .filter((line) => /^ {2}\S/.test(line)) // not the wrapped lines of a description
    .map((line) => line.trim().split(/\s+/)[0]!)
    .filter((name) => name !== 'help');

describe('switchboard --help', () => {
  it('lists every command group', async () => {
    expect(commandsOf(await help([]))).toEqual([
      'login',
      'logout',
      'whoami',
      'agents',
      'installations',
      'runs',
      'inbox',
      'approvals',
      'tasks',
      'schedules',
      'triggers',
      'webhooks',
      'models',
      'providers',
      'chat',
      'costs',
      'budgets',
      'secrets',
      'integrations',
      'connections',
      'kb',
      'api-keys',
      'runners',
      'runner',
      'api',
      'admin',
    ]);
    expect(commandsOf(await help(['agents']))).toEqual(['list', 'get', 'create', 'update', 'delete', 'pause', 'resume', 'retire', 'versions', 'export']);
    expect(commandsOf(await help(['installations']))).toEqual(['list', 'get', 'install', 'update', 'uninstall']);
    expect(commandsOf(await help(['runs']))).toEqual(['create', 'get', 'list', 'cancel', 'events', 'follow']);
    expect(commandsOf(await help(['api-keys']))).toEqual(['list', 'create', 'get', 'revoke', 'rotate']);
    expect(commandsOf(await help(['runners']))).toEqual(['list', 'register', 'get', 'delete']);
    expect(commandsOf(await help(['kb']))).toEqual(['list', 'create', 'get', 'delete', 'import', 'docs', 'query']);
    expect(commandsOf(await help(['approvals']))).toEqual(['list', 'get', 'approve', 'reject', 'request-changes', 'answer', 'comment']);
    expect(commandsOf(await help(['tasks']))).toEqual(['list', 'create', 'get', 'move', 'assign', 'comment', 'comments']);
    expect(commandsOf(await help(['costs']))).toEqual(['report', 'export']);
    expect(commandsOf(await help(['budgets']))).toEqual(['list', 'create', 'get', 'update', 'delete']);
    expect(commandsOf(await help(['secrets']))).toEqual(['set', 'list', 'get', 'versions', 'accesses', 'delete']);
    expect(commandsOf(await help(['integrations']))).toEqual(['list', 'enable', 'get', 'disable']);
    expect(commandsOf(await help(['admin']))).toEqual(['backup', 'restore', 'create-key']);
    expect(commandsOf(await help(['connections']))).toEqual(['providers', 'list', 'get', 'create', 'connect', 'refresh', 'delete']);
  });

  it('has an Examples section and the global options on every command', { timeout: 120_000 }, async () => {
    const commands: string[][] = [[]];
    for (const group of commandsOf(await help([]))) {
      commands.push([group]);
      for (const sub of commandsOf(await help([group]))) commands.push([group, sub]);
    }
    expect(commands.length).toBeGreaterThan(30);
    for (let i = 0; i < commands.length; i += 8) {
      await Promise.all(
        commands.slice(i, i + 8).map(async (command) => {
          const text = await help(command);
          const name = command.join(' ') || '(root)';
          expect(text, name).toMatch(new RegExp(`^Usage: switchboard${command.map((c) => ` ${c}`).join('')} `));
          expect(text, name).toContain('\nExamples:\n  $ switchboard ');
          expect(text, name).toContain('--api-key <key>');
          expect(text, name).toContain('--json');
        }),
      );
    }
  });

  it('exits 2 on usage errors', async () => {
    const unknown = await cli(['frobnicate'], { env: h.env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    const missing = await cli(['agents', 'get'], { env: h.env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'agentId'");
  });
});
