import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freshAdmin, token } from '../server/helpers.js';
import { keepSecret, tempHome } from './cli-helpers.js';

const require = createRequire(import.meta.url);
const CLI_DIR = dirname(require.resolve('@switchboard/cli/package.json'));
/** The repository root: where the README's commands are typed. */
const ROOT = join(CLI_DIR, '..');
const CLI_VERSION = (JSON.parse(readFileSync(join(CLI_DIR, 'package.json'), 'utf8')) as { version: string }).version;

let h: ReturnType<typeof tempHome>;
let env: Record<string, string>;

/** A command line typed into a shell at the repository root, as a user types it. */
function shell(line: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', line], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  h = tempHome();
  const key = await freshAdmin();
  keepSecret(key);
  // PATH and npm's own cache, a temporary home for the profile, no SWITCHBOARD_* of ours.
  env = {
    PATH: process.env.PATH ?? '',
    ...h.env,
    npm_config_cache: process.env.npm_config_cache || join(process.env.HOME ?? '/root', '.npm'),
    npm_config_update_notifier: 'false',
    npm_config_offline: 'true',
    KEY: key,
    URL: inject('serverUrl'),
  };
});

afterAll(() => h?.cleanup());

describe("npx switchboard, from the repository root (the README's commands)", () => {
  it('--version prints the CLI version', async () => {
    const result = await shell('npx switchboard --version');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${CLI_VERSION}\n`);
  }, 90_000);

  it('login with the key, then agents create and agents list take it from the profile', async () => {
    const login = await shell('npx switchboard login --base-url "$URL" --api-key "$KEY"');
    expect(login.stderr).toBe('');
    expect(login.code).toBe(0);
    expect(login.stdout).toContain(h.configFile);

    const name = `npx agent ${token()}`;
    const created = await shell(`npx switchboard agents create --name "${name}" --model echo --json`);
    expect(created.code).toBe(0);
    const agent = JSON.parse(created.stdout) as { id: string; name: string };
    expect(agent.name).toBe(name);

    const listed = await shell(`npx switchboard agents list --query "${name}" --json`);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { data: { id: string }[] }).data.map((a) => a.id)).toEqual([agent.id]);
  }, 90_000);
});
