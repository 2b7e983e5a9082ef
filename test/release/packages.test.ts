import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freshAdmin, token } from '../server/helpers.js';
import { REPO } from '../support/old-release.js';

const exec = promisify(execFile);
const require = createRequire(import.meta.url);
type Manifest = { name: string; version: string; dependencies?: Record<string, string>; bin?: Record<string, string> };
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Manifest;
type Packed = { filename: string; size: number; files: { path: string }[] };

const PACKAGES = ['openapi', 'server', 'sdk', 'cli', 'test'];
const version = readJson(join(REPO, 'sdk/package.json')).version;

/** `npm pack` of a workspace into `dir`, as a release publishes it. */
async function pack(workspace: string, dir: string): Promise<Packed> {
  const { stdout } = await exec('npm', ['pack', '--json', '--pack-destination', dir], { cwd: join(REPO, workspace) });
  return (JSON.parse(stdout) as Packed[])[0]!;
}

describe('a release: one version, a CHANGELOG entry, and the SDK and CLI as npm publishes them', () => {
  let dir: string;
  let sdk: Packed;
  let cli: Packed;
  let project: string;
  const npmEnv = {
    ...process.env,
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    // Dependencies come from npm's cache, filled by the repository's own install.
    npm_config_prefer_offline: 'true',
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-pack-'));
    [sdk, cli] = [await pack('sdk', dir), await pack('cli', dir)];
    project = join(dir, 'app');
    await exec('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'pack-check', private: true, type: 'module' }));
    // As a Node user installs them, with Node's types for a TypeScript project.
    const nodeTypes = `@types/node@${readJson(require.resolve('@types/node/package.json')).version}`;
    await exec('npm', ['install', '--no-save', join(dir, sdk.filename), join(dir, cli.filename), nodeTypes], { cwd: project, env: npmEnv });
  }, 180_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every package has the same version, which the CHANGELOG describes and the server reports', async () => {
    const versions = Object.fromEntries(PACKAGES.map((p) => [p, readJson(join(REPO, p, 'package.json')).version]));
    expect(versions).toEqual(Object.fromEntries(PACKAGES.map((p) => [p, version])));
    expect(version).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/);
    expect(readJson(join(REPO, 'cli/package.json')).dependencies?.['@switchboard/sdk']).toBe(version);
    const changelog = readFileSync(join(REPO, 'CHANGELOG.md'), 'utf8');
    // The newest release heads the file, under what is not released yet.
    expect(changelog.match(/^## \[?(\d+\.\d+\.\d+[^\]\s]*)\]? /m)?.[1]).toBe(version);
    const { stdout } = await exec(process.execPath, [require.resolve('@switchboard/server/main'), '--version']);
    expect(stdout).toBe(`${version}\n`);
  });

  it('the tarballs hold the built code, the licence and the README, and nothing of the sources or tests', () => {
    for (const [packed, bin] of [
      [sdk, undefined],
      [cli, 'bin/switchboard.js'],
    ] as const) {
      const paths = packed.files.map((f) => f.path);
      expect(paths).toEqual(expect.arrayContaining(['package.json', 'LICENSE', 'README.md', ...(bin ? [bin] : [])]));
      expect(paths.filter((p) => !/^(dist\/|bin\/|package\.json$|LICENSE$|README\.md$)/.test(p))).toEqual([]);
      expect(paths.filter((p) => /\.(ts|map)$/.test(p) && !p.endsWith('.d.ts'))).toEqual([]);
    }
    expect(sdk.files.map((f) => f.path)).toEqual(expect.arrayContaining(['dist/node.js', 'dist/node.d.ts', 'dist/index.js', 'dist/runner/index.js']));
    // What users download: a regression in size shows here first.
    expect(sdk.size).toBeLessThan(1024 * 1024);
    expect(cli.size).toBeLessThan(512 * 1024);
  });

  it('installed from the tarballs, the CLI runs as `switchboard` and the SDK calls a server', async () => {
    const bin = join(project, 'node_modules/.bin/switchboard');
    expect((await exec(bin, ['--version'], { env: npmEnv })).stdout).toBe(`${version}\n`);

    const key = await freshAdmin();
    const name = `packed ${token()}`;
    const script = `
      import { Switchboard } from '@switchboard/sdk';
      const sb = new Switchboard({ baseUrl: process.env.URL, apiKey: process.env.KEY });
      const agent = await sb.agents.create({ name: process.env.NAME, model: 'echo' });
      process.stdout.write(JSON.stringify(agent));
    `;
    writeFileSync(join(project, 'call.mjs'), script);
    const env = { ...npmEnv, URL: inject('serverUrl'), KEY: key, NAME: name };
    const agent = JSON.parse((await exec(process.execPath, ['call.mjs'], { cwd: project, env })).stdout) as { id: string; name: string };
    expect(agent.name).toBe(name);

    const listed = await exec(bin, ['agents', 'list', '--base-url', inject('serverUrl'), '--query', name, '--json'], {
      env: { ...npmEnv, SWITCHBOARD_API_KEY: key },
    });
    expect((JSON.parse(listed.stdout) as { data: { id: string }[] }).data.map((a) => a.id)).toEqual([agent.id]);
  }, 60_000);

  it("the SDK's types compile in a TypeScript project of a user's (NodeNext, strict)", async () => {
    writeFileSync(
      join(project, 'typed.ts'),
      `import { Switchboard, type Run } from '@switchboard/sdk';
const sb = new Switchboard({ apiKey: 'sbk_x' });
export const first = async (): Promise<Run | undefined> => (await sb.runs.list({ pageSize: 1 })).data[0];
`,
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true },
        files: ['typed.ts'],
      }),
    );
    const tsc = require.resolve('typescript/bin/tsc');
    const result = await exec(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project }).catch((err: unknown) => ({
      stdout: (err as { stdout: string }).stdout,
    }));
    expect(result.stdout).toBe('');
  }, 60_000);
});
