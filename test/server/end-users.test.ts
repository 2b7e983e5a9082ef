import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { uniqueName } from '../support/client.js';
import { personalToken, signUp } from '../support/people.js';
import { bearer, call, expectProblem, isolatedApp, newAgent, newRun, SseStream, type Conn, type Run } from './run-helpers.js';
import { serverUrl } from './helpers.js';

type EndUser = { id: string; externalId: string; name: string | null; email: string | null; metadata: Record<string, string>; applicationId: string };
type Token = { token: string; endUserId: string; expiresAt: string };

let app: Conn;
let other: Conn;
let agentId: string;
const streams: SseStream[] = [];

beforeAll(async () => {
  const a = await isolatedApp('end users');
  const b = await isolatedApp('end users elsewhere');
  app = { baseUrl: inject('auditUrl'), key: a.key };
  other = { baseUrl: inject('auditUrl'), key: b.key };
  agentId = (await newAgent(app, { model: 'echo' })).id;
});

afterAll(async () => {
  for (const s of streams) s.close();
});

const externalId = () => uniqueName('customer').replace(/\s/g, '-');

async function endUser(conn: Conn, body: Record<string, unknown> = {}): Promise<EndUser> {
  const r = await call<EndUser>(conn, 'POST', '/api/v1/end-users', { externalId: externalId(), ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

async function tokenFor(conn: Conn, endUserId: string, ttlSeconds = 300): Promise<string> {
  const r = await call<Token>(conn, 'POST', `/api/v1/end-users/${endUserId}/tokens`, { ttlSeconds });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.token;
}

const as = (token: string): Conn => ({ baseUrl: inject('auditUrl'), key: token });
const actingFor = (endUserId: string): Conn => ({ ...app, headers: { 'Switchboard-User': endUserId } });

describe('end-users', () => {
  it('are created once per external id, read, changed with a merge patch, listed and filtered', async () => {
    const jane = await endUser(app, { name: 'Jane', email: 'Jane@Example.org', metadata: { plan: 'pro' } });
    expect(jane).toMatchObject({ object: 'end_user', name: 'Jane', email: 'Jane@Example.org', metadata: { plan: 'pro' } });
    expectProblem(await call(app, 'POST', '/api/v1/end-users', { externalId: jane.externalId }), 409, 'conflict');
    const patched = await call<EndUser>(app, 'PATCH', `/api/v1/end-users/${jane.id}`, { metadata: { plan: null, tier: 'gold' }, name: null });
    expect(patched.body).toMatchObject({ name: null, metadata: { tier: 'gold' } });
    const byEmail = await call<{ data: EndUser[] }>(app, 'GET', '/api/v1/end-users?email=jane%40example.org');
    expect(byEmail.body.data.map((u) => u.id)).toEqual([jane.id]);
    const byExternal = await call<{ data: EndUser[] }>(app, 'GET', `/api/v1/end-users?externalId=${encodeURIComponent(jane.externalId)}`);
    expect(byExternal.body.data.map((u) => u.id)).toEqual([jane.id]);
    expect((await call(other, 'GET', `/api/v1/end-users/${jane.id}`)).status).toBe(404);
  });

  it('are upserted by external id: 201 the first time, 200 after, with what the body says', async () => {
    const id = externalId();
    const first = await call<EndUser>(app, 'PUT', `/api/v1/end-users/by-external-id/${encodeURIComponent(id)}`, { name: 'First', metadata: { a: '1' } });
    expect(first.status).toBe(201);
    const again = await call<EndUser>(app, 'PUT', `/api/v1/end-users/by-external-id/${encodeURIComponent(id)}`, { email: 'x@example.org' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, name: null, email: 'x@example.org', metadata: {} });
  });
});

describe('acting for an end-user (Switchboard-User)', () => {
  it('stamps the runs it starts and shows only theirs, by eu_ id or external id', async () => {
    const jane = await endUser(app);
    const joe = await endUser(app);
    const janes = await newRun(actingFor(jane.id), agentId);
    const joes = await newRun(actingFor(joe.externalId), agentId);
    expect(janes.endUserId).toBe(jane.id);
    expect(joes.endUserId).toBe(joe.id);
    const listed = await call<{ data: Run[] }>(actingFor(jane.id), 'GET', '/api/v1/runs?pageSize=100');
    expect(listed.body.data.map((r) => r.id)).toEqual([janes.id]);
    // Asking for another end-user's runs under impersonation yields nothing, not theirs.
    const sneaky = await call<{ data: Run[] }>(actingFor(jane.id), 'GET', `/api/v1/runs?endUserId=${joe.id}`);
    expect(sneaky.body.data).toEqual([]);
    for (const [method, path] of [
      ['GET', `/api/v1/runs/${joes.id}`],
      ['GET', `/api/v1/runs/${joes.id}/events`],
      ['POST', `/api/v1/runs/${joes.id}/cancel`],
    ] as const) {
      expectProblem(await call(actingFor(jane.id), method, path), 404, 'not-found');
    }
    expect((await call(app, 'GET', `/api/v1/runs/${joes.id}`)).status).toBe(200);
  });

  it("refuses another application's end-user (404) and a malformed header (400)", async () => {
    const foreign = await endUser(other);
    expectProblem(await call(actingFor(foreign.id), 'GET', '/api/v1/runs'), 404, 'not-found');
    expectProblem(await call(actingFor(`eu_01jd4x7p2kf8q6v3b9m5t0s1ab`), 'GET', '/api/v1/runs'), 404, 'not-found');
    const res = await fetch(`${serverUrl()}/api/v1/runs`, { headers: { ...bearer(app.key), 'Switchboard-User': 'with space' } });
    expect(res.status).toBe(400);
  });

  it('works with a personal token too', async () => {
    const person = await signUp(serverUrl());
    const token = await personalToken(person);
    const appId = ((await (await person.browser.fetch('/api/v1/applications')).json()) as { data: { id: string }[] }).data[0]!.id;
    const conn: Conn = { baseUrl: serverUrl(), key: token, headers: { 'X-App-Id': appId, 'Switchboard-User': 'their-customer' } };
    const agent = await newAgent({ baseUrl: serverUrl(), key: token, headers: { 'X-App-Id': appId } }, { model: 'echo' });
    const run = await newRun(conn, agent.id);
    expect(run.endUserId).toMatch(/^eu_/);
  });
});

describe('end-user tokens', () => {
  it('start runs for their end-user and see only theirs, in lists, reads and streams', async () => {
    const jane = await endUser(app);
    const joe = await endUser(app);
    const token = await tokenFor(app, jane.id);
    expect(token).toMatch(/^sbe_/);
    const mine = await newRun(as(token), agentId, { input: { q: 'mine' } });
    expect(mine.endUserId).toBe(jane.id);
    const theirs = await newRun(actingFor(joe.id), agentId);
    expect((await call<{ data: Run[] }>(as(token), 'GET', '/api/v1/runs')).body.data.map((r) => r.id)).toEqual([mine.id]);
    expect((await call(as(token), 'GET', `/api/v1/runs/${mine.id}`)).status).toBe(200);
    expectProblem(await call(as(token), 'GET', `/api/v1/runs/${theirs.id}`), 404, 'not-found');

    // Its own run's stream, with the token as ?token= the way a browser's EventSource sends it.
    const own = await SseStream.open(`${serverUrl()}/api/v1/realtime/runs/${mine.id}?token=${encodeURIComponent(token)}`);
    streams.push(own);
    await own.untilCount(1);
    expect(own.messages[0]!.json.runId).toBe(mine.id);
    const refused = await fetch(`${serverUrl()}/api/v1/realtime/runs/${theirs.id}?token=${encodeURIComponent(token)}`);
    expect(refused.status).toBe(404);

    // The application's stream, through the token, passes only the end-user's events: history, then live.
    const all = await SseStream.open(`${serverUrl()}/api/v1/realtime/runs?after=0`, bearer(token));
    streams.push(all);
    const later = await newRun(as(token), agentId);
    await newRun(actingFor(joe.id), agentId);
    await all.until((s) => s.messages.some((m) => m.json.runId === later.id), 'the later run');
    expect(new Set(all.messages.map((m) => m.json.runId))).toEqual(new Set([mine.id, later.id]));
  });

  it('do nothing else, live an hour at most, and die with their end-user', async () => {
    const jane = await endUser(app);
    const token = await tokenFor(app, jane.id);
    expectProblem(await call(as(token), 'GET', '/api/v1/agents'), 401, 'unauthorized');
    expectProblem(await call(as(token), 'POST', `/api/v1/runs/${(await newRun(as(token), agentId)).id}/cancel`), 401, 'unauthorized');
    expect((await call(app, 'POST', `/api/v1/end-users/${jane.id}/tokens`, { ttlSeconds: 3601 })).status).toBe(422);
    const foreign = await call(as(token), 'GET', '/api/v1/runs', undefined, { 'X-App-Id': await otherAppId() });
    expect(foreign.status).toBe(403);

    const run = await newRun(as(token), agentId);
    expect((await call(app, 'DELETE', `/api/v1/end-users/${jane.id}`)).status).toBe(204);
    expectProblem(await call(as(token), 'GET', '/api/v1/runs'), 401, 'unauthorized');
    // What was theirs stays, naming no one.
    expect((await call<Run>(app, 'GET', `/api/v1/runs/${run.id}`)).body.endUserId).toBeNull();
  });

  it("cannot be made for another application's end-user", async () => {
    const foreign = await endUser(other);
    expectProblem(await call(app, 'POST', `/api/v1/end-users/${foreign.id}/tokens`, {}), 404, 'not-found');
  });
});

async function otherAppId(): Promise<string> {
  const keys = await call<{ data: { applicationId: string }[] }>(other, 'GET', '/api/v1/api-keys');
  return keys.body.data[0]!.applicationId;
}
