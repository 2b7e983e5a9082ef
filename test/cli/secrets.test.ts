import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { claim, isolatedApp, label, newAgent, newRun, newRunner, runnerConn, type Conn } from '../server/run-helpers.js';
import { cli, expectNoSecrets, json, keepSecret, tempHome } from './cli-helpers.js';

type Secret = { id: string; name: string; description: string | null; currentVersion: number; lastAccessedAt: string | null };

let conn: Conn;
let h: ReturnType<typeof tempHome>;
let env: Record<string, string>;

beforeAll(async () => {
  const app = await isolatedApp('cli-secrets');
  keepSecret(app.key);
  keepSecret(app.adminKey);
  conn = { baseUrl: inject('serverUrl'), key: app.key };
  h = tempHome();
  env = { ...h.env, SWITCHBOARD_BASE_URL: conn.baseUrl, SWITCHBOARD_API_KEY: app.key };
});
afterAll(() => h?.cleanup());

const run = (args: string[], input?: string) => cli(args, { env, input });

describe('switchboard secrets', () => {
  it('sets a value from standard input (a new version the second time), lists and shows metadata, never the value', async () => {
    const [first, second] = [`v1-${randomBytes(12).toString('hex')}`, `v2-${randomBytes(12).toString('hex')}`];
    keepSecret(first);
    keepSecret(second);
    const created = await run(['secrets', 'set', 'CLI_TOKEN', '--description', 'for the CLI test', '--json'], `${first}\n`);
    expect(json<Secret>(created)).toMatchObject({ name: 'CLI_TOKEN', description: 'for the CLI test', currentVersion: 1 });
    const again = await run(['secrets', 'set', 'CLI_TOKEN', '--json'], second);
    expect(json<Secret>(again)).toMatchObject({ name: 'CLI_TOKEN', currentVersion: 2 });

    const tag = label();
    const agent = await newAgent(conn, { labels: [tag], secrets: ['CLI_TOKEN'] });
    const runner = await newRunner(conn, [tag]);
    const runId = (await newRun(conn, agent.id)).id;
    // What a runner receives is the value as piped, without the newline that ended it.
    expect((await claim(runnerConn(conn.baseUrl, runner), runner.id)).secrets).toEqual({ CLI_TOKEN: second });

    const list = await run(['secrets', 'list']);
    expect(list.stdout).toMatch(/CLI_TOKEN\s+2\s+\d{4}-/);
    const versions = json<{ data: { version: number }[] }>(await run(['secrets', 'versions', 'CLI_TOKEN', '--json']));
    expect(versions.data.map((v) => v.version)).toEqual([2, 1]);
    const accesses = await run(['secrets', 'accesses', 'CLI_TOKEN']);
    expect(accesses.stdout).toContain(runId);
    expect(accesses.stdout).toContain(runner.id);
    const shown = await run(['secrets', 'get', 'CLI_TOKEN']);
    expect(shown.stdout).toContain('for the CLI test');
    expectNoSecrets(created.stdout, created.stderr, again.stdout, list.stdout, shown.stdout, accesses.stdout);

    expect((await run(['secrets', 'delete', 'CLI_TOKEN'])).stdout).toContain('Deleted secret CLI_TOKEN.');
    expect((await run(['secrets', 'get', 'CLI_TOKEN'])).stderr).toContain('no secret named CLI_TOKEN');
  });

  it('refuses a value given any other way than standard input, and an empty one', async () => {
    const extra = await run(['secrets', 'set', 'CLI_OTHER', 'the-value-as-an-argument']);
    expect(extra.code).not.toBe(0);
    expect(extra.stderr).toMatch(/too many arguments|unknown/i);
    const empty = await run(['secrets', 'set', 'CLI_OTHER'], '');
    expect(empty.code).not.toBe(0);
    expect(empty.stderr).toContain('No value on standard input for CLI_OTHER');
    const bad = await run(['secrets', 'set', 'lower'], 'value');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('is not a secret name');
  });
});
