import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Switchboard } from '@switchboard/sdk';
import { freshAdmin } from '../server/helpers.js';
import { uniqueName } from './helpers.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const SDK_DIR = dirname(require.resolve('@switchboard/sdk/package.json'));
const CLI_DIR = dirname(require.resolve('@switchboard/cli/package.json'));
const APACHE_2 = readFileSync(join(SDK_DIR, '../LICENSE'), 'utf8');

/** The files of a package's tarball, without the `package/` prefix. */
async function tarballFiles(file: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzf', file]);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((f) => f.replace(/^package\//, ''));
}
const TYPES_NODE_VERSION = (JSON.parse(readFileSync(require.resolve('@types/node/package.json'), 'utf8')) as { version: string }).version;

let tmp: string;
let tarball: string;
let project: string;

/** npm, with a log of what it said when it fails. */
async function npm(args: string[], cwd: string) {
  try {
    return await run('npm', args, { cwd, env: { ...process.env, npm_config_update_notifier: 'false' }, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** Installs from the local npm cache only; falls back to --prefer-offline when something is not cached. */
async function installOffline(specs: string[], cwd: string) {
  try {
    await npm(['install', ...specs, '--offline', '--no-audit', '--no-fund'], cwd);
  } catch {
    await npm(['install', ...specs, '--prefer-offline', '--no-audit', '--no-fund'], cwd);
  }
}

beforeAll(async () => {
  tmp = mkdtempSync('/tmp/switchboard-sdk-pack-');
  const packDir = join(tmp, 'pack');
  mkdirSync(packDir);
  await npm(['pack', '--pack-destination', packDir], SDK_DIR);
  const [file] = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
  tarball = join(packDir, file!);

  project = join(tmp, 'consumer');
  mkdirSync(project);
  await npm(['init', '-y'], project);
  const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ ...pkg, type: 'module' }, null, 2));
  await installOffline([tarball], project);
  await installOffline(['typescript@5.9.3', `@types/node@${TYPES_NODE_VERSION}`], project);
}, 120_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the packed SDK', () => {
  it('contains the built entries, and no sources or tests', async () => {
    const files = await tarballFiles(tarball);
    for (const f of [
      'package.json',
      'LICENSE',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/node.js',
      'dist/node.d.ts',
      'dist/runner/index.js',
      'dist/runner/index.d.ts',
      'dist/generated/index.js',
    ]) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('src/') || f.includes('/src/'))).toEqual([]);
    expect(files.filter((f) => /(^|\/)(test|tests|__tests__)\/|\.(test|spec)\.[cm]?[jt]s$/.test(f))).toEqual([]);
    expect(files.filter((f) => /\.ts$/.test(f) && !/\.d\.ts$/.test(f))).toEqual([]);
    expect(files.filter((f) => /tsconfig/.test(f))).toEqual([]);
    // Source maps would point at sources that are not shipped.
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    // Nor is the command line: it is @switchboard/cli.
    expect(files.filter((f) => /(^|\/)cli(\.js|\/)/.test(f))).toEqual([]);
  });

  it('is Apache-2.0, with the full license text', async () => {
    const { stdout } = await run('tar', ['-xzOf', tarball, 'package/LICENSE']);
    expect(stdout).toBe(APACHE_2);
    expect(APACHE_2).toMatch(/^\s+Apache License\n\s+Version 2\.0, January 2004\n/);
    expect(APACHE_2).toContain('END OF TERMS AND CONDITIONS');
    const packed = JSON.parse((await run('tar', ['-xzOf', tarball, 'package/package.json'])).stdout) as Record<string, unknown>;
    expect(packed.license).toBe('Apache-2.0');
  });

  it('depends only on what the library needs: no CLI dependency, and the http runner agent as an optional peer', async () => {
    const packed = JSON.parse((await run('tar', ['-xzOf', tarball, 'package/package.json'])).stdout) as {
      dependencies: Record<string, string>;
      peerDependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
      bin?: unknown;
    };
    expect(Object.keys(packed.dependencies).sort()).toEqual(['eventsource-parser', 'standardwebhooks']);
    expect(packed.bin).toBeUndefined();
    expect(Object.keys(packed.peerDependencies ?? {})).toEqual(['request-filtering-agent']);
    expect(packed.peerDependenciesMeta?.['request-filtering-agent']?.optional).toBe(true);
    // What the consumer's install brought: the library's dependencies, none of the CLI's.
    for (const dep of ['eventsource-parser', 'standardwebhooks']) expect(existsSync(join(project, 'node_modules', dep)), dep).toBe(true);
    for (const dep of ['commander', 'request-filtering-agent']) expect(existsSync(join(project, 'node_modules', dep)), dep).toBe(false);
    expect(existsSync(join(project, 'node_modules/.bin/switchboard'))).toBe(false);
  });

  it('installs offline with its dependencies, and type-checks a consumer (NodeNext) with the installed tsc', async () => {
    const installed = JSON.parse(readFileSync(join(project, 'node_modules/@switchboard/sdk/package.json'), 'utf8')) as { version: string };
    expect(installed.version).toBe((JSON.parse(readFileSync(join(SDK_DIR, 'package.json'), 'utf8')) as { version: string }).version);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          lib: ['ES2023', 'DOM'],
          types: ['node'],
        },
        files: ['check.ts'],
      }),
    );
    writeFileSync(
      join(project, 'check.ts'),
      [
        "import { Switchboard, NotFoundError, type Agent } from '@switchboard/sdk';",
        "import { startWorker } from '@switchboard/sdk/runner';",
        '',
        "const sb = new Switchboard({ apiKey: 'sbk_x', baseUrl: 'http://127.0.0.1:1' });",
        'export async function firstAgent(): Promise<Agent | undefined> {',
        '  try {',
        '    const page = await sb.agents.list({ pageSize: 1 });',
        '    const id: string | undefined = page.lastResponse.requestId;',
        '    void id;',
        '    return page.data[0];',
        '  } catch (err) {',
        '    if (err instanceof NotFoundError) return undefined;',
        '    throw err;',
        '  }',
        '}',
        'export const work = sb.runners.work;',
        'export const start: typeof startWorker = startWorker;',
        '',
      ].join('\n'),
    );
    await run(join(project, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: project }).catch((err: unknown) => {
      const { message, stdout } = err as { stdout?: string; message: string };
      throw new Error(`tsc failed: ${message}\n${stdout ?? ''}`);
    });

    // The check can fail: a type error in the same project is reported.
    writeFileSync(join(project, 'check.ts'), "import { Switchboard } from '@switchboard/sdk';\nexport const n: number = new Switchboard().baseUrl;\n");
    const failed = await run(join(project, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: project }).then(
      () => '',
      (err: unknown) => (err as { stdout?: string }).stdout ?? '',
    );
    expect(failed).toMatch(/TS2322/);
  });

  it('runs in the consumer project: lists agents and creates one on the shared server', async () => {
    const key = await freshAdmin();
    const name = uniqueName('packed sdk agent');
    writeFileSync(
      join(project, 'run.mjs'),
      [
        "import { Switchboard, NotFoundError } from '@switchboard/sdk';",
        "import { Switchboard as BrowserSwitchboard } from '@switchboard/sdk/browser';",
        "import { startWorker } from '@switchboard/sdk/runner';",
        'const sb = new Switchboard();',
        'const page = await sb.agents.list({ pageSize: 5 });',
        'const agent = await sb.agents.create({ name: process.argv[2], model: "gpt-4.1" });',
        'let notFound = false;',
        'try { await sb.agents.get("agent_01jd4x7p2kf8q6v3b9m5t0s1ab"); } catch (e) { notFound = e instanceof NotFoundError; }',
        'console.log(JSON.stringify({',
        '  listed: page.data.length, total: page.pagination.total, pageSize: page.pagination.pageSize, listRequestId: page.lastResponse.requestId,',
        '  agent, createStatus: agent.lastResponse.status, notFound,',
        '  nodeWork: typeof sb.runners.work, browserWork: typeof new BrowserSwitchboard().runners.work, startWorker: typeof startWorker,',
        '}));',
      ].join('\n'),
    );
    const { stdout } = await run(process.execPath, ['run.mjs', name], {
      cwd: project,
      env: { PATH: process.env.PATH, SWITCHBOARD_BASE_URL: inject('serverUrl'), SWITCHBOARD_API_KEY: key },
    });
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      listed: number;
      total: number;
      pageSize: number;
      listRequestId: string;
      agent: { id: string; name: string; object: string };
      createStatus: number;
      notFound: boolean;
      nodeWork: string;
      browserWork: string;
      startWorker: string;
    };
    expect(out.pageSize).toBe(5);
    expect(out.listed).toBe(Math.min(5, out.total));
    expect(out.listRequestId).toMatch(/^req_/);
    expect(out.agent).toMatchObject({ name, object: 'agent' });
    expect(out.agent).not.toHaveProperty('lastResponse');
    expect(out.createStatus).toBe(201);
    expect(out.notFound).toBe(true);
    expect(out.nodeWork).toBe('function');
    expect(out.browserWork).toBe('undefined');
    expect(out.startWorker).toBe('function');

    // The agent is really there.
    const sb = new Switchboard({ baseUrl: inject('serverUrl'), apiKey: key });
    expect((await sb.agents.get(out.agent.id)).name).toBe(name);
  });
}, 120_000);

describe('the packed CLI', () => {
  it('ships its committed bin, the built CLI and the license, no sources or source maps', async () => {
    const packDir = join(tmp, 'cli-pack');
    mkdirSync(packDir);
    await npm(['pack', '--pack-destination', packDir], CLI_DIR);
    const [file] = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
    const files = await tarballFiles(join(packDir, file!));
    for (const f of ['package.json', 'LICENSE', 'bin/switchboard.js', 'dist/cli.js', 'dist/program.js']) expect(files, f).toContain(f);
    expect(files.filter((f) => f.endsWith('.map') || f.startsWith('src/') || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).toEqual([]);
    const packed = JSON.parse((await run('tar', ['-xzOf', join(packDir, file!), 'package/package.json'])).stdout) as Record<
      string,
      Record<string, string> | string
    >;
    expect(packed.license).toBe('Apache-2.0');
    expect(packed.bin).toEqual({ switchboard: 'bin/switchboard.js' });
    expect(Object.keys(packed.dependencies as Record<string, string>).sort()).toEqual([
      '@switchboard/sdk',
      'commander',
      'eventsource-parser',
      'request-filtering-agent',
    ]);
  });
});
