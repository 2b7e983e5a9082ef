import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, masterKeyFor, type TestDatabase } from '../support/databases.js';
import { onPostgres, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { call, type Conn } from '../server/run-helpers.js';
import { cli, CLI, json, keepSecret, type CliResult } from './cli-helpers.js';

const require = createRequire(import.meta.url);
const ROOT = join(dirname(require.resolve('@switchboard/cli/package.json')), '..');

const dirs: string[] = [];
const servers: ServerProcess[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-admin-'));
  dirs.push(dir);
  return dir;
};

/** A SQLite database in a directory of its own, whatever database the suite runs on: backups and restores are SQLite's. */
const sqliteDatabase = (dir = tempDir()): TestDatabase => ({ url: join(dir, 'switchboard.db'), kind: 'sqlite', drop: async () => {} });

async function startServer(database?: TestDatabase, env: Record<string, string> = {}): Promise<ServerProcess> {
  // Writes unthrottled: the load below is bounded by its own count, not by the rate limiter.
  const server = await startServerProcess({ RATE_LIMIT_WRITE: '1000000', RATE_LIMIT_READ: '1000000', RATE_LIMIT_RUN: '1000000', ...env }, database);
  servers.push(server);
  return server;
}

const admin = (args: string[], env: Record<string, string> = {}) => cli(['admin', ...args], { env, timeoutMs: 60_000 });

/** A refusal: exit code 1, one line (or a few) on stderr naming the problem, never a stack trace. */
function expectRefusal(result: CliResult, message: string | RegExp) {
  expect(result.stdout).toBe('');
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/^switchboard: /);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

const integrityOf = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join();
  } finally {
    db.close();
  }
};

type Write = { id: string; ackedAt: number };

/**
 * Creates agents from `workers` concurrent loops until `stop()` or `max` in all; each acknowledged
 * write is kept with the time its 201 arrived.
 */
function writeLoad(conn: Conn, workers: number, max: number) {
  const acked: Write[] = [];
  let started = 0;
  let stopped = false;
  let failures = 0;
  const loop = async () => {
    while (!stopped && started < max) {
      started++;
      const r = await call(conn, 'POST', '/api/v1/agents', { name: `load-${started}`, model: 'gpt-4.1' });
      if (r.status === 201) acked.push({ id: r.body.id, ackedAt: Date.now() });
      else failures++;
    }
  };
  const done = Promise.all(Array.from({ length: workers }, loop));
  return {
    acked,
    failures: () => failures,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

describe('switchboard admin backup and restore (SQLite)', () => {
  it('a backup taken under a write load restores every write acknowledged before it began, consistent, and a server runs on it', async () => {
    const source = sqliteDatabase();
    const server = await startServer(source);
    const conn = { baseUrl: server.url, key: server.adminKey };
    const backups = tempDir();

    const load = writeLoad(conn, 4, 2000);
    while (load.acked.length < 50) await new Promise((r) => setTimeout(r, 10));
    const backupStarted = Date.now();
    const backup = json(await admin(['backup', '--database', source.url, '--output', backups, '--json']));
    const backupEnded = Date.now();
    // The load goes on a little after the backup, then stops (bounded by its count as well).
    await new Promise((r) => setTimeout(r, 100));
    await load.stop();
    expect(load.failures()).toBe(0);

    expect(backup.path).toMatch(/\/switchboard-\d{8}T\d{6}Z\.db$/);
    expect(dirname(backup.path)).toBe(backups);
    expect(readdirSync(backups)).toEqual([backup.path.slice(backups.length + 1)]);
    expect(backup.sha256).toBe(execFileSync('sha256sum', [backup.path]).toString().split(' ')[0]);
    expect(backup.schemaVersion).toMatch(/^\d{4}_[a-z_]+$/);
    expect(integrityOf(backup.path)).toBe('ok');

    await server.stop();
    const target = sqliteDatabase();
    const restored = json(await admin(['restore', backup.path, '--database', target.url, '--json']));
    expect(restored).toMatchObject({ database: target.url, backup: backup.path, sha256: backup.sha256, bytes: backup.bytes, previous: null, masterKey: null });
    expect(integrityOf(target.url)).toBe('ok');

    // All or nothing per request: every agent in the copy has its audit event (written in the same transaction), and the other way round.
    const copy = new Database(target.url, { readonly: true });
    const agentIds = (copy.prepare('select id from agents').all() as { id: string }[]).map((r) => r.id).sort();
    const audited = (copy.prepare("select resource_id from audit_events where action = 'agent.create'").all() as { resource_id: string }[])
      .map((r) => r.resource_id)
      .sort();
    copy.close();
    expect(audited).toEqual(agentIds);

    const before = load.acked.filter((w) => w.ackedAt < backupStarted);
    const during = load.acked.filter((w) => w.ackedAt >= backupStarted && w.ackedAt <= backupEnded);
    const after = load.acked.filter((w) => w.ackedAt > backupEnded);
    const inCopy = new Set(agentIds);
    expect(before.filter((w) => !inCopy.has(w.id))).toEqual([]);
    // Nothing acknowledged after the backup ended can be in it.
    expect(after.filter((w) => inCopy.has(w.id))).toEqual([]);

    const restoredServer = await startServer(target);
    const rconn = { baseUrl: restoredServer.url, key: restoredServer.adminKey };
    let found = 0;
    for (const w of before) if ((await call(rconn, 'GET', `/api/v1/agents/${w.id}`)).status === 200) found++;
    expect(found).toBe(before.length);
    const run = await call(rconn, 'POST', '/api/v1/runs', { agentId: before[0]!.id });
    expect(run.status).toBe(201);

    console.log(
      `backup under load: ${load.acked.length} writes acknowledged (${before.length} before the backup, ${during.length} during, ${after.length} after); ` +
        `backup took ${backup.durationMs} ms (CLI ${backupEnded - backupStarted} ms), ${backup.bytes} bytes; ` +
        `${found}/${before.length} acknowledged-before writes found; ${agentIds.length} agents in the copy`,
    );
  }, 180_000);

  it('restore refuses a database in use, a newer schema, and files that are no Switchboard database; it keeps the previous file', async () => {
    const dir = tempDir();
    const database = sqliteDatabase(dir);
    const server = await startServer(database);
    const backup = json(await admin(['backup', '--database', database.url, '--output', join(dir, 'backup.db'), '--json']));
    expect(backup.path).toBe(join(dir, 'backup.db'));

    expectRefusal(await admin(['restore', backup.path, '--database', database.url]), `${database.url} is in use`);
    expectRefusal(await admin(['backup', '--database', database.url, '--output', backup.path]), `${backup.path} already exists`);

    const newer = join(dir, 'newer.db');
    copyFileSync(backup.path, newer);
    const db = new Database(newer);
    db.prepare('insert into knex_migrations (name, batch, migration_time) values (?, ?, ?)').run('9999_from_the_future', 99, new Date().toISOString());
    db.close();
    const other = sqliteDatabase();
    expectRefusal(await admin(['restore', newer, '--database', other.url]), /newer than this Switchboard's .*9999_from_the_future/);

    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'not a database\n');
    expectRefusal(await admin(['restore', text, '--database', other.url]), `The backup ${text} is not a SQLite database.`);
    expectRefusal(await admin(['restore', join(dir, 'missing.db'), '--database', other.url]), `The backup ${join(dir, 'missing.db')} does not exist.`);
    const foreign = join(dir, 'foreign.db');
    const f = new Database(foreign);
    f.exec('create table notes (body text)');
    f.close();
    expectRefusal(await admin(['restore', foreign, '--database', other.url]), 'is not a Switchboard database: it has no migrations table');
    const truncated = join(dir, 'truncated.db');
    writeFileSync(truncated, Buffer.concat([Buffer.from('SQLite format 3\0', 'latin1'), Buffer.alloc(200, 7)]));
    expectRefusal(await admin(['restore', truncated, '--database', other.url]), `The backup ${truncated} cannot be used`);
    expect(existsSync(other.url)).toBe(false);
    expectRefusal(await admin(['restore', backup.path, '--database', text]), `The database ${text} is not a SQLite database.`);

    // Stopped, the server's database is replaced; the previous one is kept beside it, whole.
    await server.stop();
    const restored = json(await admin(['restore', backup.path, '--database', database.url, '--json']));
    expect(restored.previous).toMatch(new RegExp(`^${database.url}\\.before-restore-\\d{8}T\\d{6}Z$`));
    // The server had SWITCHBOARD_MASTER_KEY, and this command does not: no master key to be found for it.
    expect(restored.masterKey).toBe(null);
    const previousName = restored.previous.slice(dir.length + 1);
    const databaseFiles = () =>
      readdirSync(dir)
        .filter((n) => n.startsWith('switchboard.db'))
        .sort();
    // No -wal or -shm beside either: the previous one was checkpointed before it was moved.
    expect(databaseFiles()).toEqual(['switchboard.db', previousName]);
    expect(integrityOf(restored.previous)).toBe('ok');
    const text2 = await admin(['restore', backup.path, '--database', database.url, '--no-keep-previous'], { SWITCHBOARD_MASTER_KEY: masterKeyFor(database) });
    expect(text2.code).toBe(0);
    expect(text2.stdout).toMatch(/^previous: +-$/m);
    expect(text2.stdout).toMatch(/^masterKey: +SWITCHBOARD_MASTER_KEY$/m);
    expect(text2.stderr).toBe('Start the server on it: it upgrades an older schema on start.\n');
    const text3 = await admin(['restore', backup.path, '--database', join(dir, 'elsewhere', 'switchboard.db')]);
    expect(text3.code).toBe(0);
    expect(text3.stderr).toContain(`No master key for it: put the master.key of the server the backup came from in ${join(dir, 'elsewhere')}`);
    // --no-keep-previous kept nothing more (the -wal and -shm of the previous one are the integrity check's).
    expect(databaseFiles().filter((n) => !n.startsWith(previousName))).toEqual(['switchboard.db']);
  }, 120_000);

  it('says how to back up PostgreSQL with pg_dump, and restore with pg_restore, password left out', async () => {
    const url = 'postgres://switchboard:s3cret@127.0.0.1:5432/switchboard';
    const backup = await admin(['backup', '--output', '/var/backups/sb.dump'], { DATABASE_URL: url });
    expectRefusal(backup, 'pg_dump --format=custom --file=/var/backups/sb.dump --dbname=postgres://switchboard@127.0.0.1:5432/switchboard\n');
    expect(backup.stderr).toContain('PGPASSWORD');
    expect(backup.stderr).not.toContain('s3cret');
    const restore = await admin(['restore', 'sb.dump', '--database', url]);
    expectRefusal(
      restore,
      'pg_restore --clean --if-exists --no-owner --single-transaction --dbname=postgres://switchboard@127.0.0.1:5432/switchboard sb.dump\n',
    );
  });

  it('says what is missing when the server package is not installed beside the CLI', async () => {
    // The CLI alone, as npm installs it from the registry: its own dependencies, no @switchboard/server to import.
    const alone = join(tempDir(), 'cli');
    for (const part of ['bin', 'dist', 'package.json']) cpSync(join(dirname(CLI), '..', part), join(alone, part), { recursive: true });
    mkdirSync(join(alone, 'node_modules', '@switchboard'), { recursive: true });
    for (const dep of ['commander', 'eventsource-parser', 'request-filtering-agent', '@switchboard/sdk']) {
      symlinkSync(realpathSync(join(ROOT, 'node_modules', dep)), join(alone, 'node_modules', dep));
    }
    const result = await new Promise<CliResult>((resolve) => {
      const child = spawn(process.execPath, [join(alone, 'bin', 'switchboard.js'), 'admin', 'create-key'], { env: { PATH: process.env.PATH ?? '' } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
    expectRefusal(result, 'needs the Switchboard server package (@switchboard/server) installed and built beside the CLI');
  });
});

describe(`switchboard admin create-key (${onPostgres ? 'PostgreSQL' : 'SQLite'})`, () => {
  it('issues an admin key a running server accepts at once, audited, the old keys still working; the options pick the application', async () => {
    const server = await startServer();
    const database = server.database.url;
    const bootstrap = { baseUrl: server.url, key: server.adminKey };
    const other = await call(bootstrap, 'POST', '/api/v1/api-keys', { name: 'ci', scopes: ['read'] });
    expect(other.status).toBe(201);
    keepSecret(other.body.secret);
    // Both keys are in the server's key cache before the new one exists.
    expect((await call(bootstrap, 'GET', '/api/v1/agents')).status).toBe(200);
    expect((await call({ baseUrl: server.url, key: other.body.secret }, 'GET', '/api/v1/agents')).status).toBe(200);

    // As the README has it: typed at the repository root, DATABASE_URL as the server reads it.
    const typed = await new Promise<CliResult>((resolve) => {
      const child = spawn('sh', ['-c', 'npx switchboard admin create-key --json'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: tempDir(), DATABASE_URL: database, npm_config_offline: 'true', npm_config_update_notifier: 'false' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
    const created = json(typed);
    keepSecret(created.secret);
    expect(created).toMatchObject({ name: 'recovered by switchboard admin create-key', scopes: ['admin'], status: 'active', object: 'api_key' });
    expect(created.secret).toMatch(/^sbk_[A-Za-z0-9_-]{43}$/);

    const recovered = { baseUrl: server.url, key: created.secret };
    const keys = await call(recovered, 'GET', '/api/v1/api-keys');
    expect(keys.status).toBe(200);
    expect(keys.body.data.map((k: { id: string }) => k.id)).toContain(created.id);
    const made = await call(recovered, 'POST', '/api/v1/api-keys', { name: 'made with the recovered key', scopes: ['read'] });
    expect(made.status).toBe(201);
    keepSecret(made.body.secret);

    const audit = await call(recovered, 'GET', '/api/v1/audit-events?action=api_key.create');
    expect(audit.status).toBe(200);
    const event = audit.body.data.find((e: { resource: { id: string } }) => e.resource.id === created.id);
    expect(event).toMatchObject({
      action: 'api_key.create',
      outcome: 'succeeded',
      status: 201,
      actor: { type: 'system', id: null, userId: null },
      applicationId: created.applicationId,
      request: { operationId: null, method: null, path: null },
      after: { id: created.id, name: created.name, secret: '[redacted]' },
    });
    expect(event.request.userAgent).toMatch(/^switchboard admin create-key \(.+@.+\)$/);
    const verified = await call(recovered, 'GET', '/api/v1/audit-events/verify');
    expect(verified.status).toBe(200);
    expect(verified.body.valid).toBe(true);

    expect((await call(bootstrap, 'GET', '/api/v1/agents')).status).toBe(200);
    expect((await call({ baseUrl: server.url, key: other.body.secret }, 'GET', '/api/v1/agents')).status).toBe(200);

    // Another application: --application picks it (its organization follows); a name and scopes of one's own.
    const app = await call(bootstrap, 'POST', '/api/v1/applications', { name: 'second' });
    expect(app.status).toBe(201);
    const second = json(
      await admin(['create-key', '--database', database, '--application', app.body.id, '--name', 'second admin', '--scope', 'read,write', '--json']),
    );
    keepSecret(second.secret);
    expect(second).toMatchObject({ applicationId: app.body.id, name: 'second admin', scopes: ['read', 'write'] });
    expect((await call({ baseUrl: server.url, key: second.secret }, 'GET', '/api/v1/agents')).status).toBe(200);
    expect((await call({ baseUrl: server.url, key: second.secret }, 'POST', '/api/v1/api-keys', { name: 'x', scopes: ['read'] })).status).toBe(403);

    expectRefusal(
      await admin(['create-key', '--database', database, '--application', 'app_01jd4x7p2kf8q6v3b9m5t0s1ab']),
      'No application app_01jd4x7p2kf8q6v3b9m5t0s1ab in this database.',
    );
    expectRefusal(
      await admin(['create-key', '--database', database, '--organization', 'org_01jd4x7p2kf8q6v3b9m5t0s1ab']),
      'No organization org_01jd4x7p2kf8q6v3b9m5t0s1ab in this database.',
    );
    const usage = await admin(['create-key', '--database', database, '--scope', 'root']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe('switchboard: --scope root: must be one of read, write, admin\n');
    if (!onPostgres) {
      expectRefusal(await admin(['create-key', '--database', join(tempDir(), 'none.db')]), /The database .*none\.db does not exist\./);
    }

    if (onPostgres && spawnSync('which', ['pg_dump']).status === 0) await pgDumpRoundTrip(server, created.secret);
  }, 180_000);
});

/** pg_dump -Fc of a live server's database, pg_restore into a scratch database, a server on it: the data and the recovered key are there. */
async function pgDumpRoundTrip(server: ServerProcess, recoveredKey: string) {
  const conn = { baseUrl: server.url, key: recoveredKey };
  const agent = await call(conn, 'POST', '/api/v1/agents', { name: 'dumped', model: 'gpt-4.1' });
  expect(agent.status).toBe(201);
  const dump = join(tempDir(), 'switchboard.dump');
  execFileSync('pg_dump', ['--format=custom', `--file=${dump}`, `--dbname=${server.database.url}`]);

  const scratch = await createTestDatabase();
  try {
    execFileSync('pg_restore', ['--no-owner', '--single-transaction', `--dbname=${scratch.url}`, dump]);
    const copy = new pg.Client({ connectionString: scratch.url });
    await copy.connect();
    const { rows } = await copy.query<{ n: string }>('select count(*) as n from agents where id = $1', [agent.body.id]);
    await copy.end();
    expect(Number(rows[0]!.n)).toBe(1);
    // The same master key as the dumped server's: secrets need it (deploy/backups.md).
    const restored = await startServerProcess({ SWITCHBOARD_MASTER_KEY: masterKeyFor(server.database) }, scratch);
    try {
      const rconn = { baseUrl: restored.url, key: recoveredKey };
      expect((await call(rconn, 'GET', `/api/v1/agents/${agent.body.id}`)).status).toBe(200);
      expect((await call(rconn, 'POST', '/api/v1/runs', { agentId: agent.body.id })).status).toBe(201);
      console.log(
        `pg_dump round trip: ${statSync(dump).size} bytes dumped, restored into a scratch database, a server on it read the data and took the recovered key`,
      );
    } finally {
      await restored.stop();
    }
  } finally {
    await scratch.drop();
  }
}
