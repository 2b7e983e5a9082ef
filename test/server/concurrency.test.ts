import { beforeAll, describe, expect, it } from 'vitest';
import { rawClient, send, type ApiClient } from '../support/client.js';
import { createAgent, createKey, freshAdmin, type Agent } from './helpers.js';

/**
 * Concurrent requests on one resource must behave as if they ran one after the other: the
 * conventions (If-Match, versions, state transitions) hold under load, and nothing is a 500.
 */
let key: string;
let api: ApiClient;

beforeAll(async () => {
  key = await freshAdmin();
  api = rawClient({ key });
});

const N = 8;
const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});

function patch(id: string, body: unknown, ifMatch?: string) {
  return send(`/api/v1/agents/${id}`, {
    key,
    method: 'PATCH',
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/merge-patch+json', ...(ifMatch ? { 'If-Match': ifMatch } : {}) },
  });
}

describe('concurrent writes', () => {
  it('of PATCHes with the same If-Match, exactly one wins and the others get 412', async () => {
    const agent = await createAgent(api);
    const etag = (await send(`/api/v1/agents/${agent.id}`, { key })).headers.get('etag')!;
    const responses = await Promise.all(Array.from({ length: N }, (_, i) => patch(agent.id, { name: `writer ${i}`, instructions: `from writer ${i}` }, etag)));
    const statuses = responses.map((r) => r.status);
    expect(tally(statuses)).toEqual({ 200: 1, 412: N - 1 });

    const winner = (await responses.find((r) => r.status === 200)!.json()) as Agent;
    const now = (await api.GET('/api/v1/agents/{agentId}', { params: { path: { agentId: agent.id } } })).data!;
    expect(now.name).toBe(winner.name);
    expect(now.instructions).toBe(winner.instructions);
    expect(now.version).toBe(2);
  });

  it('of content changes without If-Match, none fails and every accepted change is its own version', async () => {
    const agent = await createAgent(api, { instructions: 'v1' });
    const statuses = (await Promise.all(Array.from({ length: N }, (_, i) => patch(agent.id, { instructions: `change ${i}` })))).map((r) => r.status);
    expect(
      statuses.every((s) => s === 200 || s === 409),
      JSON.stringify(tally(statuses)),
    ).toBe(true);

    const accepted = statuses.filter((s) => s === 200).length;
    expect(accepted).toBeGreaterThanOrEqual(1);
    const now = (await api.GET('/api/v1/agents/{agentId}', { params: { path: { agentId: agent.id } } })).data!;
    expect(now.version).toBe(1 + accepted);
    const versions = await api.GET('/api/v1/agents/{agentId}/versions', { params: { path: { agentId: agent.id }, query: { pageSize: 100 } } });
    expect(versions.data!.data.map((v) => v.version)).toEqual(Array.from({ length: 1 + accepted }, (_, i) => 1 + accepted - i));
    // The newest version holds what the agent now has.
    expect(versions.data!.data[0]!.instructions).toBe(now.instructions);
  });

  it('of the same state transition, exactly one succeeds and the others get 409', async () => {
    const agent = await createAgent(api);
    const statuses = (await Promise.all(Array.from({ length: N }, () => send(`/api/v1/agents/${agent.id}/pause`, { key, method: 'POST' })))).map(
      (r) => r.status,
    );
    expect(tally(statuses)).toEqual({ 200: 1, 409: N - 1 });
  });

  it('of revocations of one key, exactly one succeeds and the others get 409 invalid-transition', async () => {
    const victim = await createKey({ scopes: ['read'], by: key });
    const responses = await Promise.all(Array.from({ length: N }, () => send(`/api/v1/api-keys/${victim.id}/revoke`, { key, method: 'POST' })));
    expect(tally(responses.map((r) => r.status))).toEqual({ 200: 1, 409: N - 1 });
    for (const r of responses.filter((x) => x.status === 409)) expect(((await r.json()) as { code: string }).code).toBe('invalid-transition');
    expect((await send('/api/v1/agents?pageSize=1', { key: victim.secret })).status).toBe(401);
  });
});
