import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freshAdmin, token } from '../server/helpers.js';
import { cli, json, keepSecret, startCli, tempHome } from './cli-helpers.js';

let key: string;
let h: ReturnType<typeof tempHome>;
const runners: ReturnType<typeof startCli>[] = [];

const waiting = async (runner: ReturnType<typeof startCli>) => {
  const deadline = Date.now() + 20_000;
  while (!runner.output().includes('is waiting for runs') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(runner.output()).toContain('is waiting for runs');
};

beforeAll(async () => {
  key = await freshAdmin();
  keepSecret(key);
  h = tempHome();
});

afterAll(async () => {
  for (const runner of runners) await runner.stop();
  h?.cleanup();
});

describe('switchboard runner', () => {
  it('prints, once and marked secret, the exact command that starts the same runner again; that command works', async () => {
    const label = `reuse-${token()}`;
    const first = startCli(['--base-url', inject('serverUrl'), 'runner', '--api-key', key, '--labels', label, '--name', `cli-${label}`], h.env);
    runners.push(first);
    await waiting(first);
    const output = first.output();
    const hint = /^ {2}SWITCHBOARD_RUNNER_ID=(runner_\w+) SWITCHBOARD_RUNNER_TOKEN=(sbr_\S+) switchboard runner --base-url (\S+)$/m.exec(output);
    expect(hint, output).not.toBeNull();
    const [, runnerId, runnerToken, baseUrl] = hint!;
    expect(output).toContain(`Registered runner ${runnerId} (cli-${label}).`);
    expect(output).toMatch(/SECRET, shown only this once/);
    expect(baseUrl).toBe(inject('serverUrl'));
    // Printed once: the token appears in that one line only.
    expect(output.split(runnerToken!).length - 1).toBe(1);
    expect(await first.stop()).toBe(0);

    // The printed command, as given: no application key, the same runner, no new registration.
    const env = Object.fromEntries([...hint![0].trim().matchAll(/(SWITCHBOARD_RUNNER_\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
    const again = startCli(['runner', '--base-url', baseUrl!], { ...h.env, ...env });
    runners.push(again);
    await waiting(again);
    expect(again.output()).toContain(`Runner ${runnerId} is waiting for runs`);
    expect(again.output()).not.toContain('Registered');
    keepSecret(runnerToken!);
    const listed = json<{ data: { id: string }[] }>(
      await cli(['runners', 'list', '--label', label, '--json', '--base-url', inject('serverUrl'), '--api-key', key], { env: h.env }),
    );
    expect(listed.data.map((r) => r.id)).toEqual([runnerId]);
    expect(await again.stop()).toBe(0);
  });
});

describe('switchboard login validates the base URL', () => {
  it.each([
    ['not a URL', 'localhost3000', /--base-url "localhost3000" is not a URL: give one such as http:\/\/127\.0\.0\.1:3000/],
    ['another scheme', 'ftp://127.0.0.1:3000', /--base-url "ftp:\/\/127\.0\.0\.1:3000" is not an http:\/\/ or https:\/\/ URL/],
    ['a query', 'http://127.0.0.1:3000/?x=1', /without a query, fragment or credentials/],
  ])('refuses %s before any call, with exit code 2', async (_what, url, message) => {
    const result = await cli(['login', '--base-url', url, '--api-key', key], { env: h.env });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
  });

  it('refuses a bad SWITCHBOARD_BASE_URL too, naming where it came from', async () => {
    const result = await cli(['login', '--api-key', key], { env: { ...h.env, SWITCHBOARD_BASE_URL: 'htp:/nowhere' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/The base URL "htp:\/nowhere" is not an http:\/\/ or https:\/\/ URL \(from SWITCHBOARD_BASE_URL or the profile\)/);
  });

  it('--help documents what the base URL is', async () => {
    const result = await cli(['login', '--help'], { env: h.env });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/The base URL is where the server listens: http:\/\/ or https:\/\/, host and port/);
  });
});
