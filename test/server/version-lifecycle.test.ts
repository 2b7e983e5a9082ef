import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSIONS, createVersioning, loadBundledSpec } from '@switchboard/server';
import type { components } from '../../server/src/generated/openapi.js';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { call, expectProblem, type Conn } from './run-helpers.js';

type ApiVersionList = components['schemas']['ApiVersionList'];

const FIRST = '2026-11-01';
const SECOND = '2026-12-05';
const NEWEST = '2026-12-06';
const at = (iso: string) => Date.parse(iso);

let now = at('2026-12-06T00:00:00Z');
let running: InProcessServer;
let admin: Conn;

beforeAll(async () => {
  running = await startInProcessServer({ now: () => now });
  admin = { baseUrl: running.baseUrl, key: running.adminKey };
  // Pinned to the first version while it is supported, then left there as time passes.
  expect((await call(admin, 'PATCH', '/api/v1/organization', { apiVersion: FIRST })).status).toBe(200);
});

afterAll(async () => {
  await running?.stop();
});

const statuses = async () => (await call<ApiVersionList>(admin, 'GET', '/api/v1/versions')).body.data.map((v) => [v.version, v.status]);

describe("a version's life, on the server's clock", () => {
  it('supported: no Deprecation, Sunset or Link', async () => {
    now = at('2027-06-04T23:59:59Z');
    expect(await statuses()).toEqual([
      [FIRST, 'supported'],
      [SECOND, 'supported'],
      [NEWEST, 'current'],
    ]);
    const reply = await call(admin, 'GET', '/api/v1/agents');
    expect(reply.headers.get('switchboard-version')).toBe(FIRST);
    for (const name of ['deprecation', 'sunset', 'link']) expect(reply.headers.get(name)).toBeNull();
  });

  it('deprecated for its last 6 months: every response in it says so (RFC 9745, RFC 8594) and links to the version list', async () => {
    now = at('2027-06-05T00:00:00Z');
    expect(await statuses()).toEqual([
      [FIRST, 'deprecated'],
      [SECOND, 'supported'],
      [NEWEST, 'current'],
    ]);
    for (const reply of [await call(admin, 'GET', '/api/v1/agents'), await call(admin, 'GET', '/api/v1/agents/agent_01jd4x7p2kf8q6v3b9m5t0s1ab')]) {
      expect(reply.headers.get('switchboard-version')).toBe(FIRST);
      expect(reply.headers.get('deprecation')).toBe(`@${at('2027-06-05T00:00:00Z') / 1000}`);
      expect(reply.headers.get('sunset')).toBe('Sun, 05 Dec 2027 00:00:00 GMT');
      expect(reply.headers.get('link')).toBe('</api/v1/versions>; rel="deprecation"; type="application/json"');
    }
    const newest = await call(admin, 'GET', '/api/v1/agents', undefined, { 'Switchboard-Version': NEWEST });
    expect(newest.headers.get('deprecation')).toBeNull();
  });

  it('sunset after a year: asked for or pinned, it is 400 unsupported-api-version, never another version silently', async () => {
    now = at('2027-12-05T00:00:00Z');
    expect(await statuses()).toEqual([
      [FIRST, 'sunset'],
      [SECOND, 'deprecated'],
      [NEWEST, 'current'],
    ]);
    expectProblem(await call(admin, 'GET', '/api/v1/agents', undefined, { 'Switchboard-Version': FIRST }), 400, 'unsupported-api-version', NEWEST);
    expectProblem(await call(admin, 'GET', '/api/v1/agents'), 400, 'unsupported-api-version', FIRST);
    // The way out: the header, then moving the pin; a pin cannot be moved to a sunset version.
    const moved = await call(admin, 'PATCH', '/api/v1/organization', { apiVersion: NEWEST }, { 'Switchboard-Version': NEWEST });
    expect(moved.status).toBe(200);
    expect((await call(admin, 'GET', '/api/v1/agents')).headers.get('switchboard-version')).toBe(NEWEST);
    expectProblem(await call(admin, 'PATCH', '/api/v1/organization', { apiVersion: FIRST }), 422, 'validation-error', FIRST);
    const document = await fetch(`${running.baseUrl}/api/openapi.json?version=${FIRST}`);
    expect(document.status).toBe(400);
  });
});

describe('webhook payloads', () => {
  // No change so far touches a webhook payload: a made-up one shows the chain lowers payloads in order.
  const spec = loadBundledSpec();
  const entries = [
    API_VERSIONS[0]!,
    {
      ...API_VERSIONS[1]!,
      changes: [
        ...API_VERSIONS[1]!.changes,
        {
          id: 'renamed-field',
          summary: 'data.name was data.title',
          affects: [],
          webhookDown: (p: { id: string; type: string; createdAt: string; data: unknown }) => {
            const { name, ...rest } = p.data as { name: string };
            return { ...p, data: { ...rest, title: name } };
          },
          documentDown: () => {},
        },
      ],
    },
    API_VERSIONS[2]!,
  ];
  const versioning = createVersioning(entries, spec.document, Date.now);
  const payload = JSON.stringify({ id: 'evt_1', type: 'agent.created', createdAt: '2026-12-05T00:00:00.000Z', data: { name: 'a' } });

  it('are sent as stored to an endpoint in the newest version, and lowered for one in an older version', () => {
    expect(versioning.renderWebhook(NEWEST, payload)).toBe(payload);
    expect(JSON.parse(versioning.renderWebhook(FIRST, payload))).toEqual({
      id: 'evt_1',
      type: 'agent.created',
      createdAt: '2026-12-05T00:00:00.000Z',
      data: { title: 'a' },
    });
    // The registry as shipped lowers no payload: the stored text goes out untouched.
    expect(createVersioning(API_VERSIONS, spec.document, Date.now).renderWebhook(FIRST, payload)).toBe(payload);
  });
});
