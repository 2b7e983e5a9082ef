import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
/** The repository the tests run from (a fresh clone in CI). */
export const REPO = realpathSync(join(dirname(require.resolve('@switchboard/server/main')), '..', '..'));
const MIGRATIONS = 'server/src/db/migrations';

const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** The newest migration of the working tree, e.g. `0034_connection_refresh_claims`. */
export const newestMigration = () =>
  readdirSync(join(REPO, MIGRATIONS))
    .filter((f) => /^\d{4}_.+\.ts$/.test(f))
    .sort()
    .at(-1)!
    .replace(/\.ts$/, '');

/**
 * The revision a rolling upgrade to this tree starts from: the code just before the newest migration
 * landed on the main line (or HEAD, while that migration is not committed yet). Running it next to
 * this tree on one database is what replicas do while an upgrade rolls out.
 */
export function previousRelease(): { revision: string; migration: string } {
  if (git('rev-parse', '--is-shallow-repository') === 'true') {
    throw new Error('the rolling-upgrade test needs the git history (this clone is shallow): clone without --depth');
  }
  const migration = newestMigration();
  const added = git('log', '--first-parent', '--diff-filter=A', '-1', '--format=%H', '--', `${MIGRATIONS}/${migration}.ts`);
  return { revision: git('rev-parse', added ? `${added}^1` : 'HEAD'), migration };
}

export type OldServer = { revision: string; entry: string; cleanup(): void };

/**
 * The server of `revision`, built in a temporary folder: its sources and its bundled spec from git,
 * compiled without type checks (the sources checked when they landed), its dependencies those of this
 * tree (linked), but for its own workspace packages.
 */
export function buildServerAt(revision: string): OldServer {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-old-'));
  try {
    const paths = [
      'tsconfig.base.json',
      'server/package.json',
      'server/tsconfig.json',
      'server/tsconfig.build.json',
      'server/src',
      'openapi/package.json',
      'openapi/dist',
    ];
    execFileSync('sh', ['-c', `git archive --format=tar "$1" ${paths.join(' ')} | tar -x -C "$2"`, 'archive', revision, dir], {
      cwd: REPO,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const modules = join(dir, 'node_modules');
    mkdirSync(join(modules, '@switchboard'), { recursive: true });
    for (const name of readdirSync(join(REPO, 'node_modules'))) {
      if (name !== '@switchboard' && name !== '.bin') symlinkSync(join(REPO, 'node_modules', name), join(modules, name));
    }
    symlinkSync(join(dir, 'openapi'), join(modules, '@switchboard', 'openapi'));
    symlinkSync(join(dir, 'server'), join(modules, '@switchboard', 'server'));
    symlinkSync(join(REPO, 'sdk'), join(modules, '@switchboard', 'sdk'));
    execFileSync(
      process.execPath,
      [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--noCheck', '--declaration', 'false', '--sourceMap', 'false'],
      {
        cwd: join(dir, 'server'),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const e = err as Error & { stderr?: Buffer; stdout?: Buffer };
    throw new Error(`building the server of ${revision} failed: ${e.message}\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`);
  }
  return { revision, entry: join(dir, 'server', 'dist', 'main.js'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
