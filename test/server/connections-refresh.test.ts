import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { inspectDatabase } from '../support/inspect-database.js';
import { startOAuthServer, testProvidersFile, type OAuthServer } from '../support/oauth-server.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { until } from '../support/until.js';
import { call, type Conn } from './run-helpers.js';

type Connection = components['schemas']['Connection'];
type Integration = components['schemas']['Integration'];
type ConnectSession = components['schemas']['ConnectSession'];

let oauth: OAuthServer;
let server: ServerProcess;
let conn: Conn;
let db: Knex;
let integration: Integration;

beforeAll(async () => {
  oauth = await startOAuthServer();
  server = await startServerProcess({
    SWITCHBOARD_CONNECTION_PROVIDERS_FILE: testProvidersFile(oauth),
    CONNECTION_ALLOW_PRIVATE_ADDRESSES: 'true',
    CONNECTIONS_REFRESH_AHEAD_SECONDS: '60',
    CONNECTIONS_SWEEP_INTERVAL_MS: '200',
  });
  conn = { baseUrl: server.url, key: server.adminKey };
  db = inspectDatabase(server.database);
  const created = await call<Integration>(conn, 'POST', '/api/v1/integrations', {
    providerId: 'testoauth',
    oauthClient: { clientId: oauth.clientId, clientSecret: oauth.clientSecret },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  integration = created.body;
}, 60_000);

afterAll(async () => {
  await db?.destroy();
  await server?.stop();
  await oauth?.close();
});

/** A connection for an owner, made through a connect link as a browser follows it. */
async function connect(owner?: Record<string, unknown>): Promise<Connection> {
  const session = await call<ConnectSession>(conn, 'POST', '/api/v1/connect-sessions', { integrationId: integration.id, ...(owner ? { owner } : {}) });
  expect(session.status, JSON.stringify(session.body)).toBe(201);
  const opened = await fetch(session.body.connectUrl, { redirect: 'manual' });
  const approved = await fetch(opened.headers.get('location')!, { redirect: 'manual' });
  const done = await fetch(approved.headers.get('location')!, { redirect: 'manual' });
  expect(done.status).toBe(200);
  const listed = await call<{ data: Connection[] }>(conn, 'GET', `/api/v1/connections?integrationId=${integration.id}&pageSize=100`);
  const mine = listed.body.data.find((c) => c.owner.type === ((owner?.type as string | undefined) ?? 'application') && c.owner.id === (owner?.id ?? null));
  return mine!;
}

const connectionNow = async (id: string) => (await call<Connection>(conn, 'GET', `/api/v1/connections/${id}`)).body;

describe('the refresh sweeper', () => {
  it('refreshes an idle connection whose token expires within the window, once per claim, without any call', async () => {
    // Tokens that live 30 s are due at once with a 60 s window.
    oauth.setExpiresIn(30);
    const before = oauth.counts.refreshes;
    const connection = await connect();
    expect(connection.lastRefreshedAt).toBeNull();
    const refreshed = await until('the sweeper refreshed the connection', 20_000, async () => {
      const now = await connectionNow(connection.id);
      return now.lastRefreshedAt ? now : undefined;
    });
    expect(refreshed).toMatchObject({ status: 'active' });
    expect(Date.parse(refreshed.expiresAt!)).toBeGreaterThan(Date.parse(connection.expiresAt!));
    expect(oauth.counts.refreshes).toBe(before + 1);
    // Claimed for a while: due again at once (its new token lives 30 s too), it is not refreshed again on every pass.
    const row = (await db('connections').where({ id: connection.id }).first()) as { refresh_claimed_until: string };
    expect(Date.parse(row.refresh_claimed_until)).toBeGreaterThan(Date.now() + 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(oauth.counts.refreshes).toBe(before + 1);
    const proxied = await call(conn, 'POST', `/api/v1/connections/${connection.id}/proxy`, { method: 'GET', url: '/me' });
    expect(proxied.body.status).toBe(200);
  });

  it('moves a connection whose refresh token the provider refuses to needs_reauth, and leaves long-lived tokens alone', async () => {
    oauth.setExpiresIn(3600);
    const endUser = await call(conn, 'POST', '/api/v1/end-users', { externalId: `eu-sweep-${Date.now()}` });
    const lasting = await connect({ type: 'end_user', id: endUser.body.id });
    oauth.setExpiresIn(30);
    oauth.refuseNextRefresh();
    const other = await call(conn, 'POST', '/api/v1/end-users', { externalId: `eu-sweep-refused-${Date.now()}` });
    const refused = await connect({ type: 'end_user', id: other.body.id });
    const reauth = await until('the sweeper found the refresh token refused', 20_000, async () => {
      const now = await connectionNow(refused.id);
      return now.status === 'needs_reauth' ? now : undefined;
    });
    expect(reauth.statusReason).toContain('invalid_grant');
    expect((await connectionNow(lasting.id)).lastRefreshedAt).toBeNull();
  });
});
