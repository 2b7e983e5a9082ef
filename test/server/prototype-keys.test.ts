import { beforeAll, describe, expect, inject, it } from 'vitest';
import { isolatedApp, newAgent, type Conn } from './run-helpers.js';

/**
 * Member names that objects inherit (`__proto__`, `constructor`) are data when a client sends them
 * in a free-form object: kept as sent, never read from or written to the prototype. Bodies are sent
 * as raw JSON text, since a JavaScript object literal would not hold an own `__proto__`.
 */
let conn: Conn;

beforeAll(async () => {
  conn = { baseUrl: inject('serverUrl'), key: (await isolatedApp('prototype-keys')).key };
});

async function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${conn.baseUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${conn.key}`, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as Record<string, unknown> };
}

describe('client keys that objects inherit', () => {
  it('merges a PATCH whose config names __proto__ and constructor as ordinary members', async () => {
    const agent = await newAgent(conn, { config: { temperature: 0.2 } });
    const patched = await raw('PATCH', `/api/v1/agents/${agent.id}`, '{"config": {"__proto__": {"polluted": true}, "constructor": {"x": 1}}}');
    expect(patched.status, patched.text).toBe(200);
    const config = patched.json.config as Record<string, unknown>;
    expect(Object.hasOwn(config, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(config, '__proto__')?.value).toEqual({ polluted: true });
    expect(config.constructor).toEqual({ x: 1 });
    expect(config.temperature).toBe(0.2);

    // Stored as sent: a second patch sees the members and can remove them.
    const removed = await raw('PATCH', `/api/v1/agents/${agent.id}`, '{"config": {"__proto__": null, "constructor": {"y": 2}}}');
    expect(removed.status, removed.text).toBe(200);
    const after = removed.json.config as Record<string, unknown>;
    expect(Object.hasOwn(after, '__proto__')).toBe(false);
    expect(after.constructor).toEqual({ x: 1, y: 2 });
  });

  it('maps a trigger payload into a run input field named __proto__', async () => {
    const agent = await newAgent(conn);
    const trigger = await raw(
      'POST',
      '/api/v1/triggers',
      JSON.stringify({ name: 'proto', agentId: agent.id, authentication: 'token' }).replace(/}$/, ', "inputMapping": {"__proto__": "/a", "q": "/b"}}'),
    );
    expect(trigger.status, trigger.text).toBe(201);
    const invoked = await fetch(`${conn.baseUrl}${trigger.json.url as string}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${trigger.json.secret as string}` },
      body: '{"a": {"x": 1}, "b": 2}',
    });
    expect(invoked.status).toBe(202);
    const { runId } = (await invoked.json()) as { runId: string };
    const run = await raw('GET', `/api/v1/runs/${runId}`);
    const input = run.json.input as Record<string, unknown>;
    expect(Object.getOwnPropertyDescriptor(input, '__proto__')?.value).toEqual({ x: 1 });
    expect(input.q).toBe(2);
  });
});
