import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { createApplication } from '../server/helpers.js';
import { isolatedApp } from '../server/run-helpers.js';
import { cli, json, keepSecret, REQUEST_ID, tempHome } from './cli-helpers.js';

type Agent = components['schemas']['Agent'];
type AgentPackage = components['schemas']['AgentPackage'];
type Installation = components['schemas']['Installation'];
type Page<T> = { data: T[] };

const SCHEMA = {
  type: 'object',
  required: ['ticket'],
  properties: { ticket: { type: 'string' }, language: { type: 'string', default: 'en' }, priority: { type: 'integer' } },
};

// `author`: the key's own application, where the agent is made; `staging`: another application of the
// organization, which the same admin key acts in with --app-id, and which installs it.
let h: ReturnType<typeof tempHome>;
let env: Record<string, string>;
let staging: string;

beforeAll(async () => {
  const app = await isolatedApp('cli-installations');
  keepSecret(app.key);
  keepSecret(app.adminKey);
  staging = (await createApplication(app.adminKey)).id;
  h = tempHome();
  env = { ...h.env, SWITCHBOARD_BASE_URL: inject('serverUrl'), SWITCHBOARD_API_KEY: app.key };
});
afterAll(() => h?.cleanup());

const run = (args: string[], input?: string) => cli(args, { env, input });
const inStaging = (args: string[], input?: string) => run(['--app-id', staging, ...args], input);

async function newAgent(instructions: string): Promise<Agent> {
  const body = JSON.stringify({ inputSchema: SCHEMA });
  return json<Agent>(await run(['agents', 'create', '--name', 'Triage', '--model', 'echo', '--instructions', instructions, '--data', body, '--json']));
}

describe('switchboard agents export and installations', () => {
  it('exports a package to a file, installs it in another application, updates and uninstalls it', async () => {
    const agent = await newAgent('Sort the ticket.');
    json(await run(['agents', 'update', agent.id, '--instructions', 'Sort the ticket, then reply.', '--json']));

    const file = join(h.home, 'triage.json');
    const exported = await run(['agents', 'export', agent.id, '--version', '1', '--output', file]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toBe('');
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as AgentPackage;
    expect(pkg).toMatchObject({ format: 'switchboard.agent/1', name: 'Triage', instructions: 'Sort the ticket.', source: { agentId: agent.id, version: 1 } });
    expect(exported.stderr).toBe(`Exported version 1 of ${agent.id} to ${file} (${pkg.digest}).\n`);
    // Without --version, the current one, on stdout.
    const current = json<AgentPackage>(await run(['agents', 'export', agent.id]));
    expect(current).toMatchObject({ instructions: 'Sort the ticket, then reply.', source: { version: 2 } });

    const installed = await inStaging(['installations', 'install', file, '--name', 'Triage (staging)', '--default', 'language=fr', '--lock', 'language']);
    expect(installed.code, installed.stderr).toBe(0);
    const id = /^id: +(inst_\w+)$/m.exec(installed.stdout)![1]!;
    expect(installed.stdout).toMatch(/^sourceAgentId: +-$/m);
    expect(installed.stdout).toMatch(/^lockedInputs: +language$/m);
    expect((await inStaging(['installations', 'list'])).stdout).toMatch(
      new RegExp(`^${id}\\s+agent_\\w+\\s+Triage\\s+package\\s+-\\s+1\\s+-\\s+language\\s+ok\\s`, 'm'),
    );
    expect(installed.stderr).toMatch(
      new RegExp(`^Installed as agent agent_\\w+: switchboard --app-id ${staging} runs create --agent agent_\\w+ runs it\\.$`, 'm'),
    );
    const installation = json<Installation>(await inStaging(['installations', 'get', id, '--json']));
    expect(installation).toMatchObject({ sourceVersion: 1, channel: null, inputDefaults: { language: 'fr' }, lockedInputs: ['language'] });
    const agentInStaging = json<Agent>(await inStaging(['agents', 'get', installation.agentId, '--json']));
    expect(agentInStaging).toMatchObject({ name: 'Triage (staging)', instructions: 'Sort the ticket.' });

    // A run that sets the locked field, and a direct edit of the managed agent: the problems, readable.
    const locked = await inStaging(['runs', 'create', '--agent', installation.agentId, '--input', '{"ticket": "T-1", "language": "de"}']);
    expect(locked.code).toBe(1);
    expect(locked.stderr).toMatch(/^switchboard: Locked input field: .*language.* \(request req_\w+\)$/m);
    expect(locked.stderr).toMatch(/^ {2}\/input\/language: /m);
    const edited = await inStaging(['agents', 'update', installation.agentId, '--instructions', 'mine']);
    expect(edited.code).toBe(1);
    expect(edited.stderr).toMatch(/^switchboard: Conflict: .*updateInstallation.*\(request req_\w+\)$/m);

    // A newer package over it; a default merged in, the locks replaced, the model alias changed.
    const upgraded = json<Installation>(await inStaging(['installations', 'update', id, '--package', '-', '--json'], JSON.stringify(current)));
    expect(upgraded).toMatchObject({ sourceVersion: 2, packageDigest: current.digest });
    const changed = json<Installation>(
      await inStaging(['installations', 'update', id, '--default', 'priority=2', '--lock', 'language,priority', '--model', 'gpt-4.1', '--json']),
    );
    expect(changed).toMatchObject({ inputDefaults: { language: 'fr', priority: 2 }, lockedInputs: ['language', 'priority'], model: 'gpt-4.1' });
    const unlocked = json<Installation>(
      await inStaging(['installations', 'update', id, '--default', 'priority=null', '--lock', 'none', '--model', '', '--json']),
    );
    expect(unlocked).toMatchObject({ inputDefaults: { language: 'fr' }, lockedInputs: [], model: null });

    const removed = await inStaging(['installations', 'uninstall', id]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe(`Uninstalled ${id}: its agent is deleted, or retired when it has runs.\n`);
    const gone = await inStaging(['installations', 'get', id]);
    expect(gone.code).toBe(1);
    expect(gone.stdout).toBe('');
    expect(gone.stderr).toMatch(new RegExp(`^switchboard: Not found: .*${id}.* \\(request req_\\w+\\)$`, 'm'));
  });

  it('installs an agent of another application following latest, lists and shows it, pins a version', async () => {
    const agent = await newAgent('v1');
    const installation = json<Installation>(
      await inStaging(['installations', 'install', '--from', agent.id, '--channel', 'latest', '--default', 'priority=3', '--json']),
    );
    expect(installation).toMatchObject({ sourceAgentId: agent.id, channel: 'latest', sourceVersion: 1, pinnedVersion: null, inputDefaults: { priority: 3 } });

    // A new version of the source reaches the installed agent at once.
    json(await run(['agents', 'update', agent.id, '--instructions', 'v2', '--json']));
    const list = await inStaging(['installations', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+AGENT\s+PACKAGE\s+SOURCE\s+FOLLOWS\s+VERSION\s+MODEL\s+LOCKED\s+SYNC\s+CREATED$/m);
    expect(list.stdout).toMatch(
      new RegExp(`^${installation.id}\\s+${installation.agentId}\\s+Triage\\s+${agent.id}\\s+latest\\s+2\\s+-\\s+-\\s+ok\\s+\\d{4}-`, 'm'),
    );
    const listed = json<Page<Installation>>(await inStaging(['installations', 'list', '--json']));
    expect(listed.data.map((i) => i.id)).toContain(installation.id);
    expect((await run(['installations', 'list'])).stdout).toBe('No installations.\n');

    const shown = await inStaging(['installations', 'get', installation.id]);
    expect(shown.stdout).toMatch(/^channel: +latest$/m);
    expect(shown.stdout).toMatch(/^sourceVersion: +2$/m);
    expect(json<Agent>(await inStaging(['agents', 'get', installation.agentId, '--json'])).instructions).toBe('v2');

    const pinned = json<Installation>(await inStaging(['installations', 'update', installation.id, '--version', '1', '--json']));
    expect(pinned).toMatchObject({ channel: null, pinnedVersion: 1, sourceVersion: 1 });
    expect((await inStaging(['installations', 'list'])).stdout).toMatch(new RegExp(`^${installation.id}\\s.*\\s+pinned 1\\s+1\\s`, 'm'));
    const stable = await inStaging(['installations', 'update', installation.id, '--channel', 'stable']);
    expect(stable.code).toBe(1);
    expect(stable.stderr).toMatch(REQUEST_ID);
    expect(stable.stderr).toContain('stable');
    expect((await inStaging(['installations', 'uninstall', installation.id])).code).toBe(0);
  });

  it('says what is wrong with a bad id, a missing file and options that do not go together', async () => {
    const missing = await run(['installations', 'get', 'inst_00000000000000000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^switchboard: Not found: .*inst_0{26}.* \(request req_\w+\)$/m);
    const noAgent = await run(['agents', 'export', 'agent_00000000000000000000000000']);
    expect(noAgent.code).toBe(1);
    expect(noAgent.stderr).toMatch(REQUEST_ID);

    const usage = [
      [['installations', 'install'], 'Give a package file (or - for standard input) or --from <agentId>: one of them.'],
      [['installations', 'install', 'x.json', '--from', 'agent_x'], 'one of them'],
      [['installations', 'install', 'x.json', '--channel', 'latest'], 'give --from with them'],
      [['installations', 'install', '--from', 'agent_x', '--version', '2', '--channel', 'latest'], 'not both'],
      [['installations', 'install', join(h.home, 'absent.json')], `Cannot read the package from ${join(h.home, 'absent.json')}: ENOENT`],
      [['installations', 'install', '--from', 'agent_x', '--default', 'language'], 'must be key=value'],
      [['installations', 'update', 'inst_x'], 'Nothing to change'],
      [['agents', 'export', 'agent_x', '--version', '0'], 'must be a whole number'],
    ] as const;
    for (const [args, message] of usage) {
      const result = await run([...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toContain(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
    const notJson = await run(['installations', 'install', '-'], 'not a package');
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/^switchboard: the package is not valid JSON/);
    // The CLI's own --version still works before a command.
    expect((await run(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
