import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knex, type Knex } from 'knex';
import { onPostgres, startReplicas, startServerProcess, type Replicas, type ServerProcess } from '../support/server-process.js';
import { logIn, personalToken, signUp, uniqueEmail, PASSWORD, type Person } from '../support/people.js';

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A server of its own: sign-up by invitation only (the default), tight login limits, and every request logged. */
let server: ServerProcess;
let owner: Person;

beforeAll(async () => {
  server = await startServerProcess({ LOG_LEVEL: 'debug', LOGIN_FAILURES_PER_ACCOUNT: '5', LOGIN_FAILURES_PER_ADDRESS: '1000', RATE_LIMIT_COSTLY: '1000' });
  owner = await signUp(server.url, { name: 'First' });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

describe('a fresh install', () => {
  it('makes its first user the owner of the bootstrap organization', async () => {
    const org = (await (await fetch(`${server.url}/api/v1/organization`, { headers: { Authorization: `Bearer ${server.adminKey}` } })).json()) as {
      id: string;
    };
    expect(owner.organizationId).toBe(org.id);
    const members = (await (await owner.browser.fetch('/api/v1/members')).json()) as { data: { id: string; role: string }[] };
    expect(members.data).toEqual([expect.objectContaining({ id: owner.userId, role: 'owner' })]);
  });

  it('takes later sign-ups only through an invitation', async () => {
    const res = await post(`${server.url}/api/v1/auth/signup`, { email: uniqueEmail(), password: PASSWORD, name: 'Uninvited' });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { code: string }).code).toBe('signup-closed');
  });
});

describe('guessing passwords', () => {
  it('is stopped by the login limit: past it, even the right password is refused until the window ends', async () => {
    for (let i = 0; i < 5; i++)
      expect((await post(`${server.url}/api/v1/auth/login`, { email: owner.email, password: `guess ${i} of many` })).status).toBe(401);
    const blocked = await post(`${server.url}/api/v1/auth/login`, { email: owner.email, password: PASSWORD });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    // Sessions already open go on working.
    expect((await owner.browser.fetch('/api/v1/me')).status).toBe(200);
  });

  it('learns nothing from timing: an unknown email takes as long as a wrong password', async () => {
    const invited = uniqueEmail('timing');
    const person = await signUp(server.url, { email: invited, invitationToken: await invitationFor(owner, invited) });
    const time = async (email: string) => {
      const started = performance.now();
      const res = await post(`${server.url}/api/v1/auth/login`, { email, password: 'wrong password here' });
      expect(res.status).toBe(401);
      return performance.now() - started;
    };
    const unknown: number[] = [];
    const wrong: number[] = [];
    // Interleaved, so load on the machine falls on both alike; 4 tries of the account stay under its limit of 5.
    for (let i = 0; i < 4; i++) {
      unknown.push(await time(uniqueEmail('nobody')));
      wrong.push(await time(person.email));
    }
    const ratio = median(unknown) / median(wrong);
    expect(ratio, `unknown ${median(unknown).toFixed(1)} ms, wrong ${median(wrong).toFixed(1)} ms`).toBeGreaterThan(0.6);
    expect(ratio).toBeLessThan(1.6);
  });
});

async function invitationFor(by: Person, email: string, role = 'member'): Promise<string> {
  const res = await by.browser.fetch('/api/v1/invitations', { json: { email, role } });
  if (res.status !== 201) throw new Error(`invitation failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

describe('secrets', () => {
  it('leave no password, token or cookie value in the logs or in the database in clear', async () => {
    const email = uniqueEmail('secretive');
    const invitation = await invitationFor(owner, email);
    const person = await signUp(server.url, { email, invitationToken: invitation });
    const browser = await logIn(server.url, email);
    const token = await personalToken({ browser });
    expect((await fetch(`${server.url}/api/v1/me`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
    const secrets = [
      PASSWORD,
      invitation,
      token,
      browser.cookies.get('sb_session')!.value,
      browser.cookies.get('sb_csrf')!.value,
      person.browser.cookies.get('sb_session')!.value,
    ];

    const output = server.output();
    expect(output).toContain('"request"');
    for (const secret of secrets) expect(output.includes(secret), 'a secret in the logs').toBe(false);

    const db: Knex =
      server.database.kind === 'postgres'
        ? knex({ client: 'pg', connection: server.database.url })
        : knex({ client: 'better-sqlite3', connection: { filename: server.database.url.replace(/^(sqlite|file):/, '') }, useNullAsDefault: true });
    try {
      for (const table of ['users', 'sessions', 'personal_tokens', 'invitations', 'idempotency_keys']) {
        const rows = JSON.stringify(await db(table).select());
        for (const secret of secrets) expect(rows.includes(secret), `a secret in ${table}`).toBe(false);
      }
      const user = await db('users').where({ email }).first();
      expect(user.password_hash).toMatch(/^scrypt\$32768\$8\$1\$/);
    } finally {
      await db.destroy();
    }
  });
});

describe.runIf(onPostgres)('replicas', () => {
  let replicas: Replicas;
  beforeAll(async () => {
    replicas = await startReplicas(2, { SIGNUP: 'open', RATE_LIMIT_COSTLY: '1000' });
  }, 60_000);
  afterAll(async () => {
    await replicas?.stop();
  });

  it("refuse a removed member's personal token at once, on every replica", async () => {
    const [a, b] = replicas.servers;
    const boss = await signUp(a!.url);
    const email = uniqueEmail('leaver');
    const invitation = await invitationFor(boss, email);
    const leaver = await signUp(a!.url, { email, invitationToken: invitation });
    const token = await personalToken(leaver);
    const onB = () => fetch(`${b!.url}/api/v1/members`, { headers: { Authorization: `Bearer ${token}` } });
    expect((await onB()).status).toBe(200);
    expect((await boss.browser.fetch(`/api/v1/members/${leaver.userId}`, { method: 'DELETE' })).status).toBe(204);
    expect((await onB()).status).toBe(401);
  });
});
