import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { inspectDatabase } from '../support/inspect-database.js';
import { startOAuthServer, testProvidersFile, type OAuthServer } from '../support/oauth-server.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { call, claim, expectProblem, label, newAgent, newRun, newRunner, runnerConn, type Conn } from './run-helpers.js';
import { rowsHolding } from './secrets-helpers.js';

type Connection = components['schemas']['Connection'];
type Integration = components['schemas']['Integration'];
type ConnectSession = components['schemas']['ConnectSession'];

let oauth: OAuthServer;
let server: ServerProcess;
let conn: Conn;
let db: Knex;
let oauthIntegration: Integration;
let endpointId: string;
const REDIRECT = 'https://app.example.com/settings';

beforeAll(async () => {
  oauth = await startOAuthServer();
  server = await startServerProcess({
    SWITCHBOARD_CONNECTION_PROVIDERS_FILE: testProvidersFile(oauth),
    CONNECTION_ALLOW_PRIVATE_ADDRESSES: 'true',
    // No background refresh: the tests count the provider's refreshes (connections-refresh.test.ts tests the sweeper).
    CONNECTIONS_SWEEP_INTERVAL_MS: '3600000',
    // The webhook endpoint listens nowhere (a closed port on loopback): only the messages recorded for it are read.
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
  });
  conn = { baseUrl: server.url, key: server.adminKey };
  db = inspectDatabase(server.database);
  const created = await call<Integration>(conn, 'POST', '/api/v1/integrations', {
    providerId: 'testoauth',
    oauthClient: { clientId: oauth.clientId, clientSecret: oauth.clientSecret },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  oauthIntegration = created.body;
  const endpoint = await call(conn, 'POST', '/api/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hooks', eventTypes: ['connection.*'] });
  expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
  endpointId = endpoint.body.id as string;
}, 60_000);

afterAll(async () => {
  await db?.destroy();
  await server?.stop();
  await oauth?.close();
});

/** Follows a connect link as a browser would: to the provider, which approves, and back to the callback. */
async function connectThrough(connectUrl: string): Promise<URL> {
  const opened = await fetch(connectUrl, { redirect: 'manual' });
  expect(opened.status).toBe(302);
  const authorize = new URL(opened.headers.get('location')!);
  expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
  const approved = await fetch(authorize, { redirect: 'manual' });
  expect(approved.status).toBe(302);
  const callback = await fetch(approved.headers.get('location')!, { redirect: 'manual' });
  expect(callback.status, await callback.clone().text()).toBe(302);
  return new URL(callback.headers.get('location')!);
}

async function connectSession(owner?: Record<string, unknown>): Promise<ConnectSession> {
  const r = await call<ConnectSession>(conn, 'POST', '/api/v1/connect-sessions', {
    integrationId: oauthIntegration.id,
    redirectUrl: REDIRECT,
    ...(owner ? { owner } : {}),
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

const proxy = (connectionId: string, body: Record<string, unknown>, key = conn.key) =>
  call(conn.baseUrl === server.url ? { ...conn, key } : conn, 'POST', `/api/v1/connections/${connectionId}/proxy`, body);

/** The provider's integration in the application, made now or found (another test may have enabled it). */
async function integrationOf(providerId: string): Promise<Integration> {
  const made = await call<Integration>(conn, 'POST', '/api/v1/integrations', { providerId });
  if (made.status === 201) return made.body;
  expectProblem(made, 409, 'conflict');
  const listed = await call<{ data: Integration[] }>(conn, 'GET', '/api/v1/integrations?pageSize=100');
  return listed.body.data.find((i) => i.providerId === providerId)!;
}

/** Posts a connect link's form as a browser on its page does: urlencoded, and (the page sends no referrer) from origin `null`. */
const submit = (connectUrl: string, form: string, headers: Record<string, string> = {}) =>
  fetch(connectUrl, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'null', ...headers },
    body: form,
  });

const problemOfPage = async (res: Response) => ({ status: res.status, headers: res.headers, body: JSON.parse(await res.text()) as unknown, res });

function expectPageHeaders(res: Response) {
  const csp = res.headers.get('content-security-policy')!;
  expect(csp).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; form-action 'self'; frame-ancestors 'none'/);
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
}

describe('connection providers and integrations', () => {
  it('lists the catalogue from the file, and keeps the OAuth client secret out of every answer', async () => {
    const providers = await call(conn, 'GET', '/api/v1/connection-providers');
    expect(providers.status).toBe(200);
    expect(providers.body.data.map((p: { id: string }) => p.id)).toEqual(['testbasic', 'testkey', 'testoauth']);
    expect(oauthIntegration.oauthClient).toEqual({ clientId: oauth.clientId, hasClientSecret: true });
    const got = await call(conn, 'GET', `/api/v1/integrations/${oauthIntegration.id}`);
    expect(JSON.stringify(got.body)).not.toContain(oauth.clientSecret);
    expect(await rowsHolding(db, oauth.clientSecret)).toEqual([]);
    const again = await call(conn, 'POST', '/api/v1/integrations', { providerId: 'testoauth', oauthClient: { clientId: 'x' } });
    expectProblem(again, 409, 'conflict');
    expectProblem(await call(conn, 'POST', '/api/v1/integrations', { providerId: 'nope' }), 404, 'not-found');
  });
});

describe('an OAuth 2 connection against a loopback authorization server', () => {
  let connection: Connection;

  it('connects through the hosted link (PKCE, state), stores the tokens encrypted and redirects back', async () => {
    const session = await connectSession();
    expect(session.connectUrl).toMatch(new RegExp(`^${server.url}/api/v1/connect/sbc_`));
    const back = await connectThrough(session.connectUrl);
    expect(back.origin + back.pathname).toBe(REDIRECT);
    expect(back.searchParams.get('status')).toBe('connected');
    const got = await call<Connection>(conn, 'GET', `/api/v1/connections/${back.searchParams.get('connectionId')!}`);
    connection = got.body;
    expect(connection).toMatchObject({
      status: 'active',
      authType: 'oauth2',
      providerId: 'testoauth',
      owner: { type: 'application', id: null },
      scopes: ['read'],
    });
    expect(Date.parse(connection.expiresAt!)).toBeGreaterThan(Date.now());
    // The link opened once.
    expectProblem({ ...(await call(conn, 'GET', new URL(session.connectUrl).pathname)) }, 404, 'not-found');
    const token = oauth.issuedAccessTokens.at(-1)!;
    expect(await rowsHolding(db, token)).toEqual([]);
  });

  it('the proxy injects the bearer token, calls only the provider hosts, and is audited without the token', async () => {
    const ok = await proxy(connection.id, { method: 'GET', url: '/me', headers: { Accept: 'application/json' } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.status).toBe(200);
    expect(JSON.parse(ok.body.body)).toEqual({ user: 'ada', accept: 'application/json' });
    const outside = await proxy(connection.id, { method: 'GET', url: `http://localhost:${oauth.host.split(':')[1]!}/api/me` });
    expectProblem(outside, 422, 'validation-error', 'not among the hosts');
    expectProblem(await proxy(connection.id, { method: 'GET', url: '/me', headers: { Authorization: 'Bearer mine' } }), 422, 'validation-error');
    const latin1 = await proxy(connection.id, { method: 'GET', url: '/latin1' });
    expect(latin1.body).toMatchObject({ status: 200, bodyEncoding: 'base64', body: Buffer.from([0x63, 0x61, 0x66, 0xe9]).toString('base64') });
    const redirect = await proxy(connection.id, { method: 'GET', url: '/redirect' });
    expect(redirect.body.status).toBe(302);
    const audit = await call(conn, 'GET', `/api/v1/audit-events?action=connection.proxy&resourceId=${connection.id}`);
    expect(audit.body.data.length).toBeGreaterThan(0);
    expect(JSON.stringify(audit.body)).not.toContain(oauth.issuedAccessTokens.at(-1)!);
  });

  it('refreshes on demand and before expiry', async () => {
    const before = oauth.counts.refreshes;
    const refreshed = await call<Connection>(conn, 'POST', `/api/v1/connections/${connection.id}/refresh`);
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    expect(refreshed.body.status).toBe('active');
    expect(refreshed.body.lastRefreshedAt).not.toBeNull();
    expect(oauth.counts.refreshes).toBe(before + 1);
    // Tokens that expire within a minute are refreshed by the proxy first.
    oauth.setExpiresIn(30);
    await call(conn, 'POST', `/api/v1/connections/${connection.id}/refresh`);
    oauth.setExpiresIn(3600);
    const used = await proxy(connection.id, { method: 'GET', url: '/me' });
    expect(used.body.status).toBe(200);
    expect(oauth.counts.refreshes).toBe(before + 3);
  });

  it('needs re-authorisation after invalid_grant, and connecting again makes the same connection active', async () => {
    oauth.refuseNextRefresh();
    const refused = await call<Connection>(conn, 'POST', `/api/v1/connections/${connection.id}/refresh`);
    expect(refused.status).toBe(200);
    expect(refused.body).toMatchObject({ status: 'needs_reauth' });
    expect(refused.body.statusReason).toContain('invalid_grant');
    expectProblem(await proxy(connection.id, { method: 'GET', url: '/me' }), 409, 'invalid-transition', 'needs_reauth');
    const back = await connectThrough((await connectSession()).connectUrl);
    expect(back.searchParams.get('connectionId')).toBe(connection.id);
    expect((await call<Connection>(conn, 'GET', `/api/v1/connections/${connection.id}`)).body.status).toBe('active');
  });

  it('revokes at the provider and erases the credentials', async () => {
    const before = oauth.counts.revocations;
    const revoked = await call(conn, 'DELETE', `/api/v1/connections/${connection.id}`);
    expect(revoked.status).toBe(204);
    expect(oauth.counts.revocations).toBe(before + 1);
    const got = await call<Connection>(conn, 'GET', `/api/v1/connections/${connection.id}`);
    expect(got.body.status).toBe('revoked');
    expectProblem(await proxy(connection.id, { method: 'GET', url: '/me' }), 409, 'invalid-transition');
    expectProblem(await call(conn, 'DELETE', `/api/v1/connections/${connection.id}`), 409, 'invalid-transition');
    const row = (await db('connections').where({ id: connection.id }).first()) as { credentials_encrypted: string | null };
    expect(row.credentials_encrypted).toBeNull();
    // Each change was a webhook, none with a credential.
    const messages = await call(conn, 'GET', `/api/v1/webhook-endpoints/${endpointId}/messages?pageSize=100`);
    const types = new Set((messages.body.data as { eventType: string }[]).map((m) => m.eventType));
    expect([...types].sort()).toEqual(['connection.created', 'connection.needs_reauth', 'connection.refreshed', 'connection.revoked']);
    for (const token of oauth.issuedAccessTokens) expect(JSON.stringify(messages.body)).not.toContain(token);
  });
});

describe('runs that need a connection', () => {
  it('a run whose connection was revoked after it was queued waits again at claim, and is claimed once connected again', async () => {
    // An application of its own, where the run's only connection is the one revoked.
    const app = await call(conn, 'POST', '/api/v1/applications', { name: `claims ${label()}` });
    expect(app.status, JSON.stringify(app.body)).toBe(201);
    const inApp: Conn = { ...conn, headers: { 'X-App-Id': app.body.id } };
    const integration = await call<Integration>(inApp, 'POST', '/api/v1/integrations', { providerId: 'testkey' });
    const made = await call<Connection>(inApp, 'POST', '/api/v1/connections', { integrationId: integration.body.id, credentials: { apiKey: 'sk-claim-1' } });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const lbl = label();
    const agent = await newAgent(inApp, { labels: [lbl], connections: ['testkey'] });
    const run = await newRun(inApp, agent.id);
    expect(run.status).toBe('queued');
    expect((await call(inApp, 'DELETE', `/api/v1/connections/${made.body.id}`)).status).toBe(204);

    const runner = await newRunner(inApp, [lbl]);
    const runnerCalls = runnerConn(server.url, runner);
    expect((await call(runnerCalls, 'POST', `/api/v1/runners/${runner.id}/claims?wait=0`)).status).toBe(204);
    const waiting = (await call(inApp, 'GET', `/api/v1/runs/${run.id}`)).body;
    expect(waiting).toMatchObject({ status: 'waiting', waitingFor: { kind: 'connection' } });
    expect(waiting.waitingFor.connectUrl).toContain('/api/v1/connect/sbc_');
    const approvals = await call(inApp, 'GET', `/api/v1/approvals?runId=${run.id}&status=pending`);
    expect(approvals.body.data).toMatchObject([{ kind: 'connection', payload: { providerId: 'testkey' } }]);

    const connected = await submit(waiting.waitingFor.connectUrl, 'apiKey=sk-claim-2');
    expect(connected.status, await connected.clone().text()).toBe(200);
    expect((await call(inApp, 'GET', `/api/v1/runs/${run.id}`)).body.status).toBe('queued');
    const claimed = await claim(runnerCalls, runner.id);
    expect(claimed.run.id).toBe(run.id);
  });

  it('a run whose agent needs a missing connection waits with the connect link, and resumes once the person connects', async () => {
    const lbl = label();
    const agent = await newAgent(conn, { labels: [lbl], connections: ['testoauth'] });
    expect(agent.connections).toEqual(['testoauth']);
    const endUser = await call(conn, 'POST', '/api/v1/end-users', { externalId: `eu-${lbl}` });
    const run = await newRun(conn, agent.id, {}, { 'Switchboard-User': endUser.body.id });
    expect(run.status).toBe('waiting');
    expect(run.waitingFor).toMatchObject({ kind: 'connection' });
    const connectUrl = run.waitingFor!.connectUrl!;
    expect(connectUrl).toContain('/api/v1/connect/sbc_');
    const runner = await newRunner(conn, [lbl]);
    expect((await call(runnerConn(server.url, runner), 'POST', `/api/v1/runners/${runner.id}/claims?wait=0`)).status).toBe(204);

    const page = await fetch(connectUrl, { redirect: 'manual' });
    const approved = await fetch(page.headers.get('location')!, { redirect: 'manual' });
    const done = await fetch(approved.headers.get('location')!, { redirect: 'manual' });
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Connected');

    expect((await call(conn, 'GET', `/api/v1/runs/${run.id}`)).body.status).toBe('queued');
    const claimed = await claim(runnerConn(server.url, runner), runner.id);
    expect(claimed.run.id).toBe(run.id);
    const mine = (await call(conn, 'GET', `/api/v1/connections?ownerId=${endUser.body.id as string}`)).body.data as Connection[];
    expect(mine).toHaveLength(1);
    // The run uses its end-user's connection through the proxy with its run token.
    const used = await proxy(mine[0]!.id, { method: 'GET', url: '/me' }, claimed.runToken.token);
    expect(used.status, JSON.stringify(used.body)).toBe(200);
    expect(used.body.status).toBe(200);
  });

  it('an API-key connection made directly resumes the run that waited for it', async () => {
    const integration = await call<Integration>(conn, 'POST', '/api/v1/integrations', { providerId: 'testkey' });
    expect(integration.status).toBe(201);
    const agent = await newAgent(conn, { labels: [label()], connections: ['testkey'] });
    const run = await newRun(conn, agent.id);
    expect(run.waitingFor?.kind).toBe('connection');
    const made = await call<Connection>(conn, 'POST', '/api/v1/connections', { integrationId: integration.body.id, credentials: { apiKey: 'sk-test-123456' } });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(JSON.stringify(made.body)).not.toContain('sk-test-123456');
    expect((await call(conn, 'GET', `/api/v1/runs/${run.id}`)).body.status).toBe('queued');
  });
});

describe('the hosted form of api_key and basic connect links', () => {
  it('asks for a user name and password on a self-contained page, refuses bad forms, stores them once, and says so', async () => {
    const integration = await integrationOf('testbasic');
    const made = await call<ConnectSession>(conn, 'POST', '/api/v1/connect-sessions', { integrationId: integration.id });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const { connectUrl } = made.body;

    const page = await fetch(connectUrl);
    expect(page.status).toBe(200);
    expectPageHeaders(page);
    const html = await page.text();
    // The provider's name is escaped; nothing is loaded from anywhere; the form posts back to the link.
    expect(html).toContain('Connect Test &lt;Basic&gt; &amp; &quot;Co&quot;');
    expect(html).not.toContain('<Basic>');
    expect(html).toMatch(/<form method="post">/);
    expect(html).toContain('name="username"');
    expect(html).toContain('name="password" type="password"');
    expect(html).not.toMatch(/src=|href=|<script/);
    // Showing the form does not use the link.
    expect((await fetch(connectUrl)).status).toBe(200);

    const refused = async (res: Response, status: number, code: string) => expectProblem(await problemOfPage(res), status, code);
    await refused(await submit(connectUrl, 'apiKey=sk-123'), 422, 'validation-error');
    await refused(await submit(connectUrl, 'username=ada'), 422, 'validation-error');
    await refused(await submit(connectUrl, 'username=ada&password='), 422, 'validation-error');
    await refused(await submit(connectUrl, 'username=ada&username=bob&password=x'), 422, 'validation-error');
    await refused(await submit(connectUrl, 'username=ada&password=x&extra=1'), 422, 'validation-error');
    await refused(await submit(connectUrl, 'username=a%3Ab&password=x'), 422, 'validation-error');
    await refused(await submit(connectUrl, 'username=ada&password=%E2%28'), 400, 'bad-request');
    await refused(await submit(connectUrl, 'username=ada&password=%zz'), 400, 'bad-request');
    await refused(await submit(connectUrl, `username=ada&password=${'x'.repeat(1024 * 1024)}`), 413, 'payload-too-large');
    await refused(await submit(connectUrl, '{"username":"ada","password":"x"}', { 'Content-Type': 'application/json' }), 415, 'unsupported-media-type');
    await refused(
      await submit(connectUrl, 'username=ada&password=x', { 'Content-Type': 'application/x-www-form-urlencoded; charset=latin1' }),
      415,
      'unsupported-media-type',
    );

    const password = `pw ${Date.now()} +&=`;
    const done = await submit(connectUrl, new URLSearchParams({ username: 'ada', password }).toString());
    expect(done.status).toBe(200);
    expectPageHeaders(done);
    expect(await done.text()).toContain('Connected to Test &lt;Basic&gt; &amp; &quot;Co&quot;.');
    const listed = (await call<{ data: Connection[] }>(conn, 'GET', `/api/v1/connections?integrationId=${integration.id}`)).body.data;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ status: 'active', authType: 'basic', providerId: 'testbasic', owner: { type: 'application', id: null } });
    expect(await rowsHolding(db, password)).toEqual([]);
    const audit = await call(conn, 'GET', `/api/v1/audit-events?action=connection.connect_form&resourceId=${listed[0]!.id}`);
    expect(audit.body.data).toHaveLength(1);
    expect(JSON.stringify(audit.body)).not.toContain(password);

    // Used once: the page and the form are gone alike.
    expectProblem(await problemOfPage(await fetch(connectUrl)), 404, 'not-found');
    expectProblem(await problemOfPage(await submit(connectUrl, 'username=eve&password=x')), 404, 'not-found');
  });

  it('resumes the run that waited on the link, and redirects (303) to the redirect URL', async () => {
    // An application of its own, where the provider has no connection yet.
    const app = await call(conn, 'POST', '/api/v1/applications', { name: `forms ${label()}` });
    expect(app.status, JSON.stringify(app.body)).toBe(201);
    const inApp: Conn = { ...conn, headers: { 'X-App-Id': app.body.id } };
    const made = await call<Integration>(inApp, 'POST', '/api/v1/integrations', { providerId: 'testkey' });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const integration = made.body;
    const agent = await newAgent(inApp, { labels: [label()], connections: ['testkey'] });
    const endUser = await call(inApp, 'POST', '/api/v1/end-users', { externalId: `eu-form-${label()}` });
    const run = await newRun(inApp, agent.id, {}, { 'Switchboard-User': endUser.body.id });
    expect(run.waitingFor?.kind).toBe('connection');
    const page = await fetch(run.waitingFor!.connectUrl!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('name="apiKey" type="password"');
    const done = await submit(run.waitingFor!.connectUrl!, 'apiKey=sk-form-123456');
    expect(done.status, await done.clone().text()).toBe(200);
    expect((await call(inApp, 'GET', `/api/v1/runs/${run.id}`)).body.status).toBe('queued');
    const mine = (await call<{ data: Connection[] }>(inApp, 'GET', `/api/v1/connections?ownerId=${endUser.body.id as string}`)).body.data;
    expect(mine).toMatchObject([{ status: 'active', authType: 'api_key', integrationId: integration.id }]);

    const other = await call(inApp, 'POST', '/api/v1/end-users', { externalId: `eu-form2-${label()}` });
    const session = await call<ConnectSession>(inApp, 'POST', '/api/v1/connect-sessions', {
      integrationId: integration.id,
      owner: { type: 'end_user', id: other.body.id },
      redirectUrl: REDIRECT,
    });
    const back = await submit(session.body.connectUrl, 'apiKey=sk-form-654321');
    expect(back.status).toBe(303);
    expect(back.headers.get('referrer-policy')).toBe('no-referrer');
    const location = new URL(back.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(REDIRECT);
    expect(location.searchParams.get('status')).toBe('connected');
    const connection = await call<Connection>(inApp, 'GET', `/api/v1/connections/${location.searchParams.get('connectionId')!}`);
    expect(connection.body).toMatchObject({ owner: { type: 'end_user', id: other.body.id }, status: 'active' });
  });

  it('keeps the OAuth 2 link a redirect, which takes no form', async () => {
    const session = await connectSession();
    expectProblem(await problemOfPage(await submit(session.connectUrl, 'apiKey=sk-123')), 404, 'not-found');
    expect((await fetch(session.connectUrl, { redirect: 'manual' })).status).toBe(302);
  });
});
