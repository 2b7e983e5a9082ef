import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { isolatedApp } from '../server/run-helpers.js';
import { cli, expectNoSecrets, json, keepSecret, REQUEST_ID, tempHome } from './cli-helpers.js';

type Connection = components['schemas']['Connection'];
type Integration = components['schemas']['Integration'];
type ConnectSession = components['schemas']['ConnectSession'];
type Page<T> = { data: T[] };

// The shared server's catalogue (global-setup.ts): `testoauth` on the loopback authorization server, and `testkey`, an API key.
let h: ReturnType<typeof tempHome>;
let env: Record<string, string>;
let serverUrl: string;

beforeAll(async () => {
  const app = await isolatedApp('cli-connections');
  keepSecret(app.key);
  keepSecret(app.adminKey);
  keepSecret(inject('oauthClient').clientSecret);
  serverUrl = inject('serverUrl');
  h = tempHome();
  env = { ...h.env, SWITCHBOARD_BASE_URL: serverUrl, SWITCHBOARD_API_KEY: app.key };
});
afterAll(() => h?.cleanup());

const run = (args: string[], input?: string) => cli(args, { env, input });

describe('switchboard connections and integrations', () => {
  it('lists the providers of the catalogue', async () => {
    const table = await run(['connections', 'providers']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+AUTH\s+API\s+HOSTS$/m);
    expect(table.stdout).toMatch(/^testoauth\s+Test OAuth\s+oauth2\s+http:\/\/127\.0\.0\.1:\d+\/api\s+127\.0\.0\.1:\d+$/m);
    const listed = json<Page<{ id: string; authType: string }>>(await run(['connections', 'providers', '--json']));
    expect(listed.data.map((p) => [p.id, p.authType])).toEqual([
      ['testbasic', 'basic'],
      ['testkey', 'api_key'],
      ['testoauth', 'oauth2'],
    ]);
  });

  it('stores an API key read from standard input, never printed, then lists, shows and revokes the connection', async () => {
    const enabled = json<Integration>(await run(['integrations', 'enable', 'testkey', '--json']));
    expect(enabled).toMatchObject({ providerId: 'testkey', authType: 'api_key', oauthClient: null });
    expect((await run(['integrations', 'list'])).stdout).toMatch(new RegExp(`^${enabled.id}\\s+testkey\\s+api_key\\s+-\\s+-\\s+\\d{4}-`, 'm'));
    expect(json<Integration>(await run(['integrations', 'get', 'testkey', '--json'])).id).toBe(enabled.id);

    const key = `sk-cli-${randomBytes(16).toString('hex')}`;
    keepSecret(key);
    const created = await run(['connections', 'create', 'testkey', '--label', 'CLI desk', '--json'], `${key}\n`);
    const connection = json<Connection>(created);
    expect(connection).toMatchObject({
      integrationId: enabled.id,
      providerId: 'testkey',
      owner: { type: 'application', id: null },
      label: 'CLI desk',
      status: 'active',
    });

    const list = await run(['connections', 'list']);
    expect(list.stdout).toMatch(new RegExp(`^${connection.id}\\s+testkey\\s+application\\s+CLI desk\\s+active\\s+-\\s+never$`, 'm'));
    const filtered = json<Page<Connection>>(await run(['connections', 'list', '--integration', 'testkey', '--status', 'active', '--json']));
    expect(filtered.data.map((c) => c.id)).toEqual([connection.id]);
    const shown = await run(['connections', 'get', connection.id]);
    expect(shown.stdout).toMatch(/^status: +active$/m);
    expectNoSecrets(created.stdout, created.stderr, list.stdout, shown.stdout);

    // From a file as well: the same owner's connection gets the new key.
    const file = join(h.home, 'key.txt');
    writeFileSync(file, `${key}-2\n`);
    keepSecret(`${key}-2`);
    expect(json<Connection>(await run(['connections', 'create', enabled.id, '--credential-file', file, '--json'])).id).toBe(connection.id);

    expect((await run(['connections', 'delete', connection.id])).stdout).toBe(`Revoked connection ${connection.id}.\n`);
    expect(json<Connection>(await run(['connections', 'get', connection.id, '--json'])).status).toBe('revoked');
    const again = await run(['connections', 'delete', connection.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^switchboard: .+ \(request req_\w+\)$/m);
    expect(again.stderr).toMatch(REQUEST_ID);
  });

  it('takes a credential from standard input or a file only, as the integration needs it', async () => {
    const argument = await run(['connections', 'create', 'testkey', 'sk-as-an-argument']);
    expect(argument.code).toBe(2);
    expect(argument.stderr).toContain('too many arguments');
    const empty = await run(['connections', 'create', 'testkey'], '');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('No API key on standard input');
    const basic = await run(['connections', 'create', 'testkey', '--username', 'bot'], 'key');
    expect(basic.stderr).toContain('testkey takes an API key alone: leave out --username.');
    const notEnabled = await run(['connections', 'create', 'nosuch'], 'key');
    expect(notEnabled.code).toBe(2);
    expect(notEnabled.stderr).toContain('The application has not enabled nosuch');
    const secretAlone = await run(['integrations', 'enable', 'testoauth', '--client-secret-stdin'], 'secret');
    expect(secretAlone.code).toBe(2);
    expect(secretAlone.stderr).toContain('give --client-id too');

    const disabled = await run(['integrations', 'disable', 'testkey']);
    expect(disabled.stdout).toMatch(/^Disabled integration int_\w+: its connections are deleted\.$/m);
    expect(json<Page<Integration>>(await run(['integrations', 'list', '--json'])).data.map((i) => i.providerId)).not.toContain('testkey');
  });

  it('connects an oauth2 integration through a link on the public URL, for an end-user, and refreshes the connection', async () => {
    const { clientId, clientSecret } = inject('oauthClient');
    const enabled = await run(
      ['integrations', 'enable', 'testoauth', '--client-id', clientId, '--client-secret-stdin', '--scope', 'read'],
      `${clientSecret}\n`,
    );
    expect(enabled.code, enabled.stderr).toBe(0);
    expect(enabled.stdout).toMatch(new RegExp(`^oauthClient: +\\{"clientId":"${clientId}","hasClientSecret":true\\}$`, 'm'));
    expect(await run(['connections', 'create', 'testoauth'], 'key')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('connections connect testoauth'),
    });

    const customer = `cli-customer-${randomBytes(4).toString('hex')}`;
    const linked = await run(['connections', 'connect', 'testoauth', '--end-user', customer]);
    expect(linked.code, linked.stderr).toBe(0);
    // The link alone on stdout, for $(...).
    expect(linked.stdout).toMatch(new RegExp(`^${serverUrl}/api/v1/connect/sbc_\\S+\\n$`));
    expect(linked.stderr).toMatch(/^A link for end-user:eu_\w+ to connect testoauth: it opens once, until \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC\.$/m);

    const session = json<ConnectSession>(
      await run([
        'connections',
        'connect',
        'testoauth',
        '--end-user',
        customer,
        '--redirect-url',
        'https://app.example.com/done',
        '--expires-in',
        '600',
        '--json',
      ]),
    );
    expect(session).toMatchObject({ object: 'connect_session', owner: { type: 'end_user' }, redirectUrl: 'https://app.example.com/done' });
    expect(session.connectUrl.startsWith(`${serverUrl}/api/v1/connect/`)).toBe(true);
    expect(Date.parse(session.expiresAt) - Date.parse(session.createdAt)).toBe(600_000);

    // A browser opening the first link: the provider approves at once, and the callback's page says it is connected.
    const opened = await fetch(linked.stdout.trim());
    expect(opened.status, await opened.clone().text()).toBe(200);
    const endUser = session.owner.id!;
    const [connection] = json<Page<Connection>>(await run(['connections', 'list', '--owner', endUser, '--json'])).data;
    expect(connection).toMatchObject({ providerId: 'testoauth', authType: 'oauth2', owner: { type: 'end_user', id: endUser }, status: 'active' });
    expect((await run(['connections', 'list', '--integration', 'testoauth'])).stdout).toMatch(
      new RegExp(`^${connection!.id}\\s+testoauth\\s+end-user:${endUser}\\s+-\\s+active\\s+\\d{4}-`, 'm'),
    );
    const refreshed = json<Connection>(await run(['connections', 'refresh', connection!.id, '--json']));
    expect(refreshed.status).toBe('active');
    expect(refreshed.lastRefreshedAt).not.toBeNull();
  });

  it('prints the problem of a bad id and exits 1', async () => {
    const missing = await run(['connections', 'get', 'con_00000000000000000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/^switchboard: Not found: No connection with id con_0{26}\. \(request req_\w+\)$/m);
    const integration = await run(['integrations', 'disable', 'int_00000000000000000000000000']);
    expect(integration.code).toBe(1);
    expect(integration.stderr).toMatch(REQUEST_ID);
    const invalid = await run(['connections', 'list', '--owner', 'nobody']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^ {2}ownerId: /m);
  });
});
