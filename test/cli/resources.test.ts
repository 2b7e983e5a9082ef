import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freshAdmin, token } from '../server/helpers.js';
import { cli, json, keepSecret, REQUEST_ID, tempHome } from './cli-helpers.js';

type Agent = {
  id: string;
  name: string;
  model: string;
  status: string;
  labels: string[];
  version: number;
  instructions: string;
  runtime: string;
  url: string | null;
};

let key: string;
let h: ReturnType<typeof tempHome>;
let env: Record<string, string>;

beforeAll(async () => {
  key = await freshAdmin();
  keepSecret(key);
  h = tempHome();
  // Key and URL from the environment: these commands do not depend on a profile.
  env = { ...h.env, SWITCHBOARD_BASE_URL: inject('serverUrl'), SWITCHBOARD_API_KEY: key };
});
afterAll(() => h?.cleanup());

const run = (args: string[], input?: string) => cli(args, { env, input });

describe('switchboard agents', () => {
  it('creates an agent that agents list --json then contains', async () => {
    const name = `cli agent ${token()}`;
    const agent = json<Agent>(
      await run(['agents', 'create', '--name', name, '--model', 'gpt-4.1', '--instructions', 'Be brief.', '--label', 'eu', '--label', 'gpu', '--json']),
    );
    expect(agent).toMatchObject({ name, model: 'gpt-4.1', instructions: 'Be brief.', labels: ['eu', 'gpu'], status: 'active', version: 1 });

    const list = json<{ data: Agent[]; pagination: { total: number } }>(await run(['agents', 'list', '--query', name, '--json']));
    expect(list.data.map((a) => a.id)).toEqual([agent.id]);
    expect(list.pagination.total).toBe(1);

    const all = json<Agent[]>(await run(['agents', 'list', '--query', name, '--all', '--json']));
    expect(all.map((a) => a.id)).toEqual([agent.id]);
  });

  it('prints a table with a header and a row per agent', async () => {
    const name = `cli table ${token()}`;
    const agent = json<Agent>(await run(['agents', 'create', '--name', name, '--model', 'echo', '--json']));
    const table = await run(['agents', 'list', '--query', name]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +NAME +MODEL +STATUS +VERSION +LABELS +CREATED$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(new RegExp(`^${agent.id} +${name} +echo +active +1 +- +\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}$`));
    // Columns line up: every cell starts where its header does.
    expect(lines[1]!.indexOf(name)).toBe(lines[0]!.indexOf('NAME'));
    expect(lines[1]!.indexOf('active')).toBe(lines[0]!.indexOf('STATUS'));
  });

  it('shows one agent as key: value lines, updates, pauses, resumes and lists its versions', async () => {
    const agent = json<Agent>(await run(['agents', 'create', '--name', `cli get ${token()}`, '--model', 'gpt-4.1', '--json']));
    const shown = await run(['agents', 'get', agent.id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^id: +${agent.id}$`, 'm'));
    expect(shown.stdout).toMatch(/^model: +gpt-4\.1$/m);
    expect(shown.stdout).toMatch(/^status: +active$/m);

    const file = join(h.home, 'instructions.md');
    writeFileSync(file, 'From a file.');
    const updated = json<Agent>(await run(['agents', 'update', agent.id, '--model', 'gpt-4.1-mini', '--instructions', `@${file}`, '--json']));
    expect(updated).toMatchObject({ model: 'gpt-4.1-mini', instructions: 'From a file.', version: 2 });

    expect(json<Agent>(await run(['agents', 'pause', agent.id, '--json'])).status).toBe('paused');
    const resumed = await run(['agents', 'resume', agent.id]);
    expect(resumed.stdout).toMatch(/^status: +active$/m);

    const versions = await run(['agents', 'versions', agent.id]);
    expect(versions.stdout.split('\n')[0]).toMatch(/^VERSION +MODEL +INSTRUCTIONS +CREATED$/);
    expect(versions.stdout).toMatch(/^2 +gpt-4\.1-mini +From a file\./m);
    expect(json<{ version: number; model: string }>(await run(['agents', 'versions', agent.id, '1', '--json']))).toMatchObject({
      version: 1,
      model: 'gpt-4.1',
    });

    const deleted = await run(['agents', 'delete', agent.id]);
    expect(deleted).toMatchObject({ code: 0, stdout: `Deleted agent ${agent.id}.\n` });
    const gone = await run(['agents', 'get', agent.id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^switchboard: Not found: .+ \(request req_\w+\)\n$/);
  });

  it('takes the whole body with --data (inline, @file or stdin), flags overriding its members', async () => {
    const name = `cli data ${token()}`;
    const fromStdin = json<Agent>(await run(['agents', 'create', '--data', '-', '--json'], JSON.stringify({ name, model: 'echo', labels: ['a'] })));
    expect(fromStdin).toMatchObject({ name, model: 'echo', labels: ['a'] });
    const file = join(h.home, 'agent.json');
    writeFileSync(file, JSON.stringify({ name, model: 'echo', runtime: 'http', url: 'https://agents.example.com/run' }));
    const fromFile = json<Agent>(await run(['agents', 'create', '--data', `@${file}`, '--model', 'remote', '--json']));
    expect(fromFile).toMatchObject({ model: 'remote', runtime: 'http', url: 'https://agents.example.com/run' });
  });

  it('lists field errors of a validation error, and exits 1', async () => {
    const result = await run(['agents', 'create', '--name', `cli invalid ${token()}`, '--runtime', 'http']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const [summary, ...fields] = result.stderr.trimEnd().split('\n');
    expect(summary).toMatch(/^switchboard: Validation error: .+ \(request req_\w+\)$/);
    expect(fields.length).toBeGreaterThanOrEqual(1);
    expect(fields).toContainEqual(expect.stringMatching(/^ {2}\/model: /));
  });

  it('refuses bad arguments before calling the API, as usage errors (exit 2)', async () => {
    const badJson = await run(['agents', 'create', '--data', '{nope']);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toContain('switchboard: --data is not valid JSON');
    const badOption = await run(['agents', 'list', '--status', 'sleeping']);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toContain("option '--status <status>' argument 'sleeping' is invalid");
    const unknown = await run(['agents', 'frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
  });
});

describe('switchboard api', () => {
  it('GETs a path and prints the body as pretty JSON', async () => {
    const result = await run(['api', 'GET', '/api/v1/agents?pageSize=2']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const body = JSON.parse(result.stdout) as { data: unknown[]; pagination: { pageSize: number } };
    expect(body.pagination.pageSize).toBe(2);
    expect(result.stdout).toContain('\n  "data": [');
  });

  it('POSTs a JSON body given as an argument or on stdin', async () => {
    const name = `cli api ${token()}`;
    const created = json<Agent>(await run(['api', 'POST', '/api/v1/agents', JSON.stringify({ name, model: 'echo' })]));
    expect(created).toMatchObject({ name, model: 'echo' });
    const fromStdin = json<Agent>(await run(['api', 'PATCH', `/api/v1/agents/${created.id}`, '-'], '{"description": "patched"}'));
    expect(fromStdin).toMatchObject({ id: created.id, description: 'patched' });
  });

  it('prints the status line and headers first with --include, never the Authorization header', async () => {
    const result = await run(['api', 'POST', '/api/v1/agents', JSON.stringify({ name: `cli include ${token()}`, model: 'echo' }), '--include']);
    expect(result.code).toBe(0);
    const [head, body] = result.stdout.split('\n\n', 2) as [string, string];
    expect(head.split('\n')[0]).toBe('HTTP/1.1 201 Created');
    expect(head).toMatch(/^request-id: req_\w+$/m);
    expect(head).toMatch(/^location: \/api\/v1\/agents\/agent_\w+$/m);
    expect(head.toLowerCase()).not.toContain('authorization');
    expect(JSON.parse(body)).toMatchObject({ object: 'agent' });
  });

  it('exits 1 on an error status, printing the body and the problem line', async () => {
    const result = await run(['api', 'GET', '/api/v1/agents/agent_01jd4x7p2kf8q6v3b9m5t0s1ab']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 404, code: 'not-found' });
    expect(result.stderr).toMatch(/^switchboard: Not found: .+ \(request req_\w+\)\n$/);
    expect(result.stderr).toMatch(REQUEST_ID);
  });

  it('lists the field errors of a validation error', async () => {
    const result = await run(['api', 'POST', '/api/v1/agents', '{"name": 42}']);
    expect(result.code).toBe(1);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^switchboard: Validation error: .+ \(request req_\w+\)$/);
    expect(lines.slice(1)).toEqual(expect.arrayContaining([expect.stringMatching(/^ {2}\/model: /), expect.stringMatching(/^ {2}\/name: /)]));
  });

  it('answers a wrong key with 401 without printing any key', async () => {
    const wrong = `sbk_${'q'.repeat(43)}`;
    const result = await cli(['api', 'GET', '/api/v1/agents', '--api-key', wrong], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^switchboard: Unauthorized: /);
    expect(result.stdout + result.stderr).not.toContain(wrong);
  });
});

describe('switchboard api-keys and runners', () => {
  it('creates (showing the secret once), gets, rotates and revokes an API key', async () => {
    const name = `cli key ${token()}`;
    const created = json<{ id: string; secret: string; scopes: string[]; prefix: string }>(
      await run(['api-keys', 'create', '--name', name, '--scope', 'read,write', '--json']),
    );
    expect(created.scopes).toEqual(['read', 'write']);
    expect(created.secret).toMatch(/^sbk_/);
    const shown = await run(['api-keys', 'get', created.id]);
    expect(shown.stdout).toMatch(new RegExp(`^prefix: +${created.prefix}$`, 'm'));
    expect(shown.stdout).not.toContain(created.secret);
    const listed = await run(['api-keys', 'list', '--status', 'active', '--all']);
    expect(listed.stdout).toMatch(new RegExp(`^${created.id} +${name} +${created.prefix} +read, write +active `, 'm'));
    const rotated = await run(['api-keys', 'rotate', created.id, '--grace-period', '0']);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(/^secret: +sbk_/m);
    expect(rotated.stderr).toContain('never shown again');
    expect(json<{ status: string }>(await run(['api-keys', 'revoke', created.id, '--json'])).status).toBe('revoked');
  });

  it('registers, lists, shows and deletes a runner', async () => {
    const label = `l-${token()}`;
    const runner = json<{ id: string; token: string; labels: string[] }>(
      await run(['runners', 'register', '--name', 'cli runner', '--label', label, '--json']),
    );
    expect(runner.token).toMatch(/^sbr_/);
    const listed = await run(['runners', 'list', '--label', label]);
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID +NAME +LABELS +LAST SEEN +CREATED$/);
    expect(listed.stdout).toMatch(new RegExp(`^${runner.id} +cli runner +${label} +- `, 'm'));
    expect((await run(['runners', 'get', runner.id])).stdout).toMatch(/^name: +cli runner$/m);
    expect((await run(['runners', 'delete', runner.id])).stdout).toBe(`Deleted runner ${runner.id}.\n`);
    expect((await run(['runners', 'list', '--label', label])).stdout).toBe('No runners.\n');
  });
});
