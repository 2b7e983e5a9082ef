import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { uniqueName } from '../support/client.js';
import { personalToken, signUp, type Person } from '../support/people.js';
import {
  appendEvents,
  call,
  claim,
  complete,
  expectProblem,
  isolatedApp,
  newAgent,
  newRun,
  newRunner,
  runEvents,
  runnerConn,
  type Conn,
  type RunEvent,
} from './run-helpers.js';

type ApiVersionList = components['schemas']['ApiVersionList'];

const FIRST = '2026-11-01';
const PREVIOUS = '2026-12-05';
const NEWEST = '2026-12-06';

const serverUrl = () => inject('serverUrl');
const at = (version: string) => ({ 'Switchboard-Version': version });

let app: { appId: string; key: string; adminKey: string };
let conn: Conn;

beforeAll(async () => {
  app = await isolatedApp('versions');
  conn = { baseUrl: serverUrl(), key: app.key };
});

/** A run claimed by a runner of the app, with the runner's connection and lease. */
async function claimedRun() {
  const agent = await newAgent(conn);
  const runner = await newRunner(conn);
  const run = await newRun(conn, agent.id);
  const rc = runnerConn(serverUrl(), runner);
  const { lease } = await claim(rc, runner.id);
  return { run, rc, lease };
}

/** The raw text of a run's stream resumed after `after` (a finished run's ends by itself). */
async function streamText(runId: string, after: number, headers: Record<string, string> = {}) {
  const res = await fetch(`${serverUrl()}/api/v1/realtime/runs/${runId}?after=${after}`, {
    headers: { Authorization: `Bearer ${app.key}`, Accept: 'text/event-stream', ...headers },
  });
  return { res, text: await res.text() };
}

describe('GET /api/v1/versions', () => {
  it('lists every version, oldest first, with its status, dates and changes; public', async () => {
    const res = await fetch(`${serverUrl()}/api/v1/versions`);
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as ApiVersionList;
    expect(data.map((v) => [v.version, v.status])).toEqual([
      [FIRST, 'supported'],
      [PREVIOUS, 'supported'],
      [NEWEST, 'current'],
    ]);
    expect(data[0]).toMatchObject({
      releasedAt: '2026-11-01T00:00:00.000Z',
      deprecatedAt: '2027-06-05T00:00:00.000Z',
      sunsetAt: '2027-12-05T00:00:00.000Z',
      changes: [],
    });
    expect(data[1]).toMatchObject({ deprecatedAt: '2027-06-06T00:00:00.000Z', sunsetAt: '2027-12-06T00:00:00.000Z' });
    expect(data[1]!.changes.map((c) => c.id)).toEqual(['typed-run-events', 'finished-stream-no-content']);
    expect(data[1]!.changes[0]!.affects).toContain('appendRunEvents');
    expect(data[2]).toMatchObject({ deprecatedAt: null, sunsetAt: null });
    expect(data[2]!.changes.map((c) => c.id)).toEqual(['waits-release-leases']);
    expect(res.headers.get('switchboard-version')).toBe(NEWEST);
  });
});

describe('choosing the version', () => {
  it('echoes the version on every /api/v1 response: the header, else the newest for an organization pinned to it', async () => {
    expect((await call(conn, 'GET', '/api/v1/agents')).headers.get('switchboard-version')).toBe(NEWEST);
    expect((await call(conn, 'GET', '/api/v1/agents', undefined, at(FIRST))).headers.get('switchboard-version')).toBe(FIRST);
    // Refusals too: a 401 says the version it was answered in.
    const refused = await call({ baseUrl: serverUrl(), key: 'sbk_unknown' }, 'GET', '/api/v1/agents', undefined, at(FIRST));
    expect(refused.status).toBe(401);
    expect(refused.headers.get('switchboard-version')).toBe(FIRST);
    // Not the documents, the health checks or the AI gateway, which have no version of ours.
    expect((await fetch(`${serverUrl()}/healthz`)).headers.get('switchboard-version')).toBeNull();
    expect((await fetch(`${serverUrl()}/api/openapi.json`, { headers: at(FIRST) })).headers.get('switchboard-version')).toBeNull();
  });

  it('a malformed version is 400 invalid-api-version, an unknown one 400 unsupported-api-version; nothing is done', async () => {
    const name = uniqueName('never');
    for (const [value, code] of [
      ['2026-13-01', 'invalid-api-version'],
      ['2026-02-30', 'invalid-api-version'],
      ['yesterday', 'invalid-api-version'],
      ['2020-01-01', 'unsupported-api-version'],
      ['2026-12-04', 'unsupported-api-version'],
    ] as const) {
      const p = expectProblem(await call(conn, 'POST', '/api/v1/agents', { name, model: 'gpt-4.1' }, at(value)), 400, code, value);
      if (code === 'unsupported-api-version') expect(p.detail).toContain(`${FIRST}, ${PREVIOUS}, ${NEWEST}`);
    }
    const listed = await call<{ data: unknown[] }>(conn, 'GET', `/api/v1/agents?q=${name}`);
    expect(listed.body.data).toEqual([]);
  });

  it("a key's pin applies when no header is sent; the header wins; a pin must be a served version (422)", async () => {
    const pinned = await call(conn, 'POST', '/api/v1/api-keys', { name: uniqueName('pinned'), scopes: ['read'], apiVersion: FIRST });
    expect(pinned.status).toBe(201);
    expect(pinned.body.apiVersion).toBe(FIRST);
    const withPin: Conn = { baseUrl: serverUrl(), key: pinned.body.secret };
    expect((await call(withPin, 'GET', '/api/v1/agents')).headers.get('switchboard-version')).toBe(FIRST);
    expect((await call(withPin, 'GET', '/api/v1/agents', undefined, at(NEWEST))).headers.get('switchboard-version')).toBe(NEWEST);

    const unpinned = await call(conn, 'PATCH', `/api/v1/api-keys/${pinned.body.id}`, { apiVersion: null });
    expect(unpinned.status).toBe(200);
    expect(unpinned.body.apiVersion).toBeNull();
    // The change reaches the key's cached copy at once.
    expect((await call(withPin, 'GET', '/api/v1/agents')).headers.get('switchboard-version')).toBe(NEWEST);

    const bad = expectProblem(
      await call(conn, 'POST', '/api/v1/api-keys', { name: uniqueName('bad'), scopes: ['read'], apiVersion: '2020-01-01' }),
      422,
      'validation-error',
    );
    expect(bad.errors!.map((e) => e.pointer)).toEqual(['/apiVersion']);
  });

  describe("an organization's pin", () => {
    let person: Person;
    let token: string;
    let key: Conn;

    beforeAll(async () => {
      person = await signUp(serverUrl());
      token = await personalToken(person, { scopes: ['admin'] });
      const apps = await call<{ data: { id: string }[] }>({ baseUrl: serverUrl(), key: token }, 'GET', '/api/v1/applications');
      const created = await call(
        { baseUrl: serverUrl(), key: token },
        'POST',
        '/api/v1/api-keys',
        { name: uniqueName('k'), scopes: ['read'] },
        { 'X-App-Id': apps.body.data[0]!.id },
      );
      expect(created.status).toBe(201);
      key = { baseUrl: serverUrl(), key: created.body.secret };
    });

    it('is the newest for a new organization, is changed by PATCH /api/v1/organization (audited), and applies at once', async () => {
      const owner: Conn = { baseUrl: serverUrl(), key: token };
      expect((await call(owner, 'GET', '/api/v1/organization')).body.apiVersion).toBe(NEWEST);
      const changed = await call(owner, 'PATCH', '/api/v1/organization', { apiVersion: FIRST });
      expect(changed.status).toBe(200);
      expect(changed.body.apiVersion).toBe(FIRST);
      expect(changed.headers.get('switchboard-version')).toBe(NEWEST);

      expect((await call(key, 'GET', '/api/v1/agents')).headers.get('switchboard-version')).toBe(FIRST);
      expect((await call(owner, 'GET', '/api/v1/organization')).headers.get('switchboard-version')).toBe(FIRST);
      expect((await call(key, 'GET', '/api/v1/agents', undefined, at(NEWEST))).headers.get('switchboard-version')).toBe(NEWEST);

      const audit = (await call<{ data: Record<string, any>[] }>(owner, 'GET', '/api/v1/audit-events?action=organization.update')).body.data;
      expect(audit[0]!.before.apiVersion).toBe(NEWEST);
      expect(audit[0]!.after.apiVersion).toBe(FIRST);
      expect(audit[0]!.request.apiVersion).toBe(NEWEST);

      const bad = expectProblem(await call(owner, 'PATCH', '/api/v1/organization', { apiVersion: '2026-12-04' }), 422, 'validation-error');
      expect(bad.errors!.map((e) => e.pointer)).toEqual(['/apiVersion']);
    });
  });
});

describe('a runner in version 2026-11-01 (typed run events)', () => {
  it('keeps appending log, output.delta and usage events whose data the newest version refuses; it reads them back as it sent them, the newest under run.legacy.*', async () => {
    const { run, rc, lease } = await claimedRun();
    const sent = [
      { runnerSeq: 1, type: 'log', data: { text: 'no message field' } },
      { runnerSeq: 2, type: 'log', data: { message: 'typed already', level: 'info' } },
      { runnerSeq: 3, type: 'usage', data: { inputTokens: -1 } },
      { runnerSeq: 4, type: 'output.delta' },
    ];
    const appended = await call<{ accepted: number; events: RunEvent[] }>(
      rc,
      'POST',
      `/api/v1/leases/${lease.id}/events`,
      { fencingToken: lease.fencingToken, events: sent },
      at(FIRST),
    );
    expect(appended.status, JSON.stringify(appended.body)).toBe(200);
    expect(appended.body.accepted).toBe(4);
    expect(appended.body.events.map((e) => e.type)).toEqual(['log', 'log', 'usage', 'output.delta']);

    const newest = (await runEvents(conn, run.id)).slice(2);
    expect(newest.map((e) => [e.type, e.data])).toEqual([
      ['run.legacy.log', { text: 'no message field' }],
      ['log', { message: 'typed already', level: 'info' }],
      ['run.legacy.usage', { inputTokens: -1 }],
      ['output.delta', {}],
    ]);
    const first = await call<{ data: RunEvent[] }>(conn, 'GET', `/api/v1/runs/${run.id}/events`, undefined, at(FIRST));
    expect(first.body.data.slice(2).map((e) => [e.type, e.data])).toEqual(sent.map((e) => [e.type, e.data ?? {}]));

    // The same events, streamed to each version.
    const streamed = async (version: string) => (await streamText(run.id, 2, at(version))).text;
    const ended = await complete(rc, lease.id, { fencingToken: lease.fencingToken, status: 'succeeded', output: {} });
    expect(ended.status).toBe(200);
    expect(await streamed(FIRST)).toMatch(/id: 3\nevent: log\ndata: \{[^\n]*"type":"log","data":\{"text":"no message field"\}/);
    expect(await streamed(NEWEST)).toMatch(/id: 3\nevent: run\.legacy\.log\ndata: \{[^\n]*"type":"run\.legacy\.log"/);
  });

  it('in the newest version the typed data is checked (422) and run.legacy.* is the server’s to write', async () => {
    const { rc, lease } = await claimedRun();
    expectProblem(await appendEvents(rc, lease.id, lease.fencingToken, [{ runnerSeq: 1, type: 'log', data: { text: 'x' } }]), 422, 'validation-error');
    const reserved = expectProblem(
      await appendEvents(rc, lease.id, lease.fencingToken, [{ runnerSeq: 1, type: 'run.legacy.log', data: { text: 'x' } }]),
      422,
      'validation-error',
    );
    expect(reserved.errors!.map((e) => e.pointer)).toEqual(['/events/0/type']);
  });
});

describe("a finished run's stream resumed past its end (finished-stream-no-content)", () => {
  it('is 204 in the newest version and an empty stream (200) in 2026-11-01', async () => {
    const { run, rc, lease } = await claimedRun();
    expect((await complete(rc, lease.id, { fencingToken: lease.fencingToken, status: 'succeeded', output: {} })).status).toBe(200);
    const last = (await runEvents(conn, run.id)).at(-1)!.seq;
    const newest = await streamText(run.id, last);
    expect(newest.res.status).toBe(204);
    const first = await streamText(run.id, last, at(FIRST));
    expect(first.res.status).toBe(200);
    expect(first.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(first.res.headers.get('switchboard-version')).toBe(FIRST);
    expect(first.text).toBe('');
  });
});

describe('webhook endpoints render in their own version', () => {
  it('pin the version of the request that creates them unless told, and refuse a version not served', async () => {
    const url = 'http://127.0.0.1:9/versions';
    const made = await call(conn, 'POST', '/api/v1/webhook-endpoints', { url }, at(FIRST));
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body.apiVersion).toBe(FIRST);
    const explicit = await call(conn, 'POST', '/api/v1/webhook-endpoints', { url, apiVersion: NEWEST }, at(FIRST));
    expect(explicit.body.apiVersion).toBe(NEWEST);
    const moved = await call(conn, 'PATCH', `/api/v1/webhook-endpoints/${made.body.id}`, { apiVersion: NEWEST });
    expect(moved.body.apiVersion).toBe(NEWEST);
    const bad = expectProblem(await call(conn, 'PATCH', `/api/v1/webhook-endpoints/${made.body.id}`, { apiVersion: '2099-01-01' }), 422, 'validation-error');
    expect(bad.errors!.map((e) => e.pointer)).toEqual(['/apiVersion']);
    for (const id of [made.body.id, explicit.body.id]) expect((await call(conn, 'DELETE', `/api/v1/webhook-endpoints/${id}`)).status).toBe(204);
  });
});

describe('the OpenAPI document of a version', () => {
  it('is made from the newest by the changes since: 2026-11-01 has the untyped RunEvent and no 204 on streamRun', async () => {
    const document = async (query: string) => {
      const res = await fetch(`${serverUrl()}/api/openapi.json${query}`);
      expect(res.status).toBe(200);
      return (await res.json()) as { info: { version: string }; paths: Record<string, any>; components: { schemas: Record<string, any> } };
    };
    const newest = await document('');
    const first = await document(`?version=${FIRST}`);
    expect(newest.info.version).toBe(NEWEST);
    expect(first.info.version).toBe(FIRST);
    expect(newest.components.schemas.RunEvent.oneOf).toHaveLength(7);
    expect(first.components.schemas.RunEvent.oneOf).toBeUndefined();
    expect(first.components.schemas.RunEvent.properties.data.type).toBe('object');
    expect(first.components.schemas.RunLogEvent).toBeUndefined();
    expect(first.components.schemas.RunEventInput.allOf).toBeUndefined();
    expect(Object.keys(newest.paths['/api/v1/realtime/runs/{runId}'].get.responses)).toContain('204');
    expect(Object.keys(first.paths['/api/v1/realtime/runs/{runId}'].get.responses)).not.toContain('204');
    expect(await document(`?version=${NEWEST}`)).toEqual(newest);

    const yaml = await fetch(`${serverUrl()}/api/openapi.yaml?version=${FIRST}`);
    expect(yaml.status).toBe(200);
    expect(await yaml.text()).toContain(`version: ${FIRST}`);
  });

  it('is 400 for a malformed or unserved version', async () => {
    for (const [query, code] of [
      ['?version=soon', 'invalid-api-version'],
      ['?version=2020-01-01', 'unsupported-api-version'],
      ['?version=a&version=b', 'bad-request'],
    ]) {
      for (const path of ['/api/openapi.json', '/api/openapi.yaml']) {
        const res = await fetch(`${serverUrl()}${path}${query}`);
        expect(res.status, `${path}${query}`).toBe(400);
        expect(((await res.json()) as { code: string }).code).toBe(code);
      }
    }
  });
});
