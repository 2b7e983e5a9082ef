import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newBootstrapKey, onPostgres, replicaBuses, startReplicas, type Replicas, type ServerProcess } from '../support/server-process.js';
import { createKey, serverUrl } from './helpers.js';

/**
 * Authenticated keys are cached for a few seconds; a change to a key must still take effect on the
 * very next request, on the replica that made it and on every other one.
 */
async function status(baseUrl: string, key: string, method = 'GET', body?: object): Promise<number> {
  const res = await fetch(`${baseUrl}/api/v1/agents${method === 'GET' ? '?pageSize=1' : ''}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  await res.arrayBuffer();
  return res.status;
}

async function send(baseUrl: string, admin: string, method: string, path: string, body?: object) {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  expect(res.status, `${method} ${path}: ${await res.clone().text()}`).toBeLessThan(300);
  return (await res.json()) as { secret?: string };
}

describe('cached authentication on one server', () => {
  let admin: string;
  beforeAll(async () => {
    admin = (await createKey({ scopes: ['admin'] })).secret;
  });

  it('refuses a revoked key on the next request, though it was just used', async () => {
    const key = await createKey({ scopes: ['read'], by: admin });
    expect(await status(serverUrl(), key.secret)).toBe(200);
    await send(serverUrl(), admin, 'POST', `/api/v1/api-keys/${key.id}/revoke`);
    expect(await status(serverUrl(), key.secret)).toBe(401);
  });

  it('refuses the old secret at once after a rotation without grace, and takes the new one', async () => {
    const key = await createKey({ scopes: ['read'], by: admin });
    expect(await status(serverUrl(), key.secret)).toBe(200);
    const rotated = await send(serverUrl(), admin, 'POST', `/api/v1/api-keys/${key.id}/rotate`, { gracePeriodSeconds: 0 });
    expect(await status(serverUrl(), key.secret)).toBe(401);
    expect(await status(serverUrl(), rotated.secret!)).toBe(200);
  });

  it('applies a scope change on the next request', async () => {
    const key = await createKey({ scopes: ['read', 'write'], by: admin });
    expect(await status(serverUrl(), key.secret, 'POST', { name: 'cached', model: 'echo' })).toBe(201);
    await send(serverUrl(), admin, 'PATCH', `/api/v1/api-keys/${key.id}`, { scopes: ['read'] });
    expect(await status(serverUrl(), key.secret, 'POST', { name: 'cached', model: 'echo' })).toBe(403);
  });
});

const onReplicas = onPostgres ? describe : describe.skip;

onReplicas('cached authentication on two replicas of one PostgreSQL database (skipped without DATABASE_URL=postgres://...)', () => {
  for (const bus of replicaBuses) {
    describe(bus.name, () => {
      let replicas: Replicas;
      let a: ServerProcess;
      let b: ServerProcess;
      const admin = newBootstrapKey();

      beforeAll(async () => {
        const env = { SWITCHBOARD_BOOTSTRAP_KEY: admin, REDIS_URL: bus.redis, RATE_LIMIT_WRITE: '100000', RATE_LIMIT_READ: '100000' };
        replicas = await startReplicas(2, env);
        [a, b] = replicas.servers as [ServerProcess, ServerProcess];
      }, 60_000);
      afterAll(async () => {
        await replicas?.stop();
      });

      it('a key revoked on one replica is refused by the other, which had it cached, within moments', async () => {
        const key = (await send(a.url, admin, 'POST', '/api/v1/api-keys', { name: 'replicated', scopes: ['read'] })) as { id: string; secret: string };
        for (let i = 0; i < 3; i++) expect(await status(b.url, key.secret)).toBe(200);
        await send(a.url, admin, 'POST', `/api/v1/api-keys/${key.id}/revoke`);
        // The notice crosses the bus in milliseconds; the cache's own TTL (5 s) is the bound this must beat.
        const started = Date.now();
        let last = 200;
        while (Date.now() - started < 2_000 && (last = await status(b.url, key.secret)) === 200) await new Promise((r) => setTimeout(r, 20));
        expect(last).toBe(401);
        expect(Date.now() - started).toBeLessThan(2_000);
      });
    });
  }
});
