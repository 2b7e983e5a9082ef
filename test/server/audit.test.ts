import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { auditHashOf } from '@switchboard/server';
import type { components } from '../../server/src/generated/openapi.js';
import { uniqueName } from '../support/client.js';
import { inspectDatabase } from '../support/inspect-database.js';
import { personalToken, signUp, type Person } from '../support/people.js';
import { createKey } from './helpers.js';
import { until } from '../support/until.js';
import { call, expectProblem, isolatedApp, newAgent, type Conn } from './run-helpers.js';

type AuditEvent = components['schemas']['AuditEvent'];
type Page = components['schemas']['AuditEventList'];
type Verification = components['schemas']['AuditVerification'];

const audited = (conn: Conn, query: string) => call<Page>(conn, 'GET', `/api/v1/audit-events?${query}`);

let app: { appId: string; key: string; adminKey: string };
let conn: Conn;

beforeAll(async () => {
  app = await isolatedApp('audit');
  conn = { baseUrl: inject('auditUrl'), key: app.key };
});

describe('the audit log', () => {
  it('records a change with its actor, request, before and after, in the order it was made', async () => {
    const idempotencyKey = randomUUID();
    const created = await call(
      conn,
      'POST',
      '/api/v1/agents',
      { name: uniqueName('audited'), model: 'gpt-4.1' },
      { 'Idempotency-Key': idempotencyKey, 'User-Agent': 'audit-test/1.0' },
    );
    expect(created.status).toBe(201);
    const agentId = created.body.id as string;
    const updated = await call(conn, 'PATCH', `/api/v1/agents/${agentId}`, { description: 'Now described' });
    expect(updated.status).toBe(200);
    expect((await call(conn, 'DELETE', `/api/v1/agents/${agentId}`)).status).toBe(204);

    const page = await audited(conn, `resourceId=${agentId}`);
    expect(page.status).toBe(200);
    const [deleted, changed, made] = page.body.data;
    expect([made!.action, changed!.action, deleted!.action]).toEqual(['agent.create', 'agent.update', 'agent.delete']);
    expect(made!.position).toBeLessThan(changed!.position);
    expect(changed!.position).toBeLessThan(deleted!.position);
    expect(made).toMatchObject({
      outcome: 'succeeded',
      status: 201,
      applicationId: app.appId,
      actor: { type: 'api_key', userId: null },
      resource: { type: 'agent', id: agentId },
      request: {
        id: created.headers.get('request-id'),
        operationId: 'createAgent',
        method: 'POST',
        path: '/api/v1/agents',
        idempotencyKey,
        userAgent: 'audit-test/1.0',
      },
      before: null,
      after: { id: agentId, name: created.body.name },
    });
    expect(made!.actor.id).toMatch(/^key_/);
    expect(made!.request.ip).toBeTruthy();
    expect(changed!.before).toMatchObject({ id: agentId, description: null });
    expect(changed!.after).toMatchObject({ id: agentId, description: 'Now described' });
    expect(deleted).toMatchObject({ status: 204, after: null, before: { id: agentId } });
    // One event per change: the idempotent replay of the creation records nothing more.
    const replay = await call(conn, 'POST', '/api/v1/agents', { name: created.body.name, model: 'gpt-4.1' }, { 'Idempotency-Key': idempotencyKey });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect((await audited(conn, `resourceId=${agentId}`)).body.data).toHaveLength(3);
    const one = await call<AuditEvent>(conn, 'GET', `/api/v1/audit-events/${made!.id}`);
    expect(one.body).toEqual(made);
  });

  it('never stores a credential: secrets are redacted by name and by their shape', async () => {
    const key = await call(conn, 'POST', '/api/v1/api-keys', { name: uniqueName('secret key'), scopes: ['read'] });
    expect(key.body.secret).toMatch(/^sbk_/);
    const agent = await newAgent(conn, { description: 'holds no secret', config: { note: key.body.secret } });
    const events = [...(await audited(conn, `resourceId=${key.body.id}`)).body.data, ...(await audited(conn, `resourceId=${agent.id}`)).body.data];
    expect(events.length).toBe(2);
    expect(events[0]!.after!.secret).toBe('[redacted]');
    expect((events[1]!.after!.config as Record<string, unknown>).note).toBe('[redacted]');
    const db = inspectDatabase();
    try {
      const stored = await db('audit_events').whereIn('resource_id', [key.body.id, agent.id]).select<{ after: string | null }[]>('before', 'after');
      expect(stored.map((s) => s.after).join('')).not.toContain(key.body.secret);
    } finally {
      await db.destroy();
    }
  });

  it('records attempts refused with 403 as denied, and lets no one below admin read the log', async () => {
    const reader = await createKey({ scopes: ['read'], by: app.key });
    const readerConn = { ...conn, key: reader.secret };
    expectProblem(await call(readerConn, 'POST', '/api/v1/agents', { name: 'no', model: 'gpt-4.1' }), 403, 'forbidden');
    expectProblem(await audited(readerConn, ''), 403, 'forbidden');
    const denied = await audited(conn, `actorId=${reader.id}&outcome=denied`);
    expect(denied.body.data[0]).toMatchObject({ action: 'agent.create', outcome: 'denied', status: 403, actor: { type: 'api_key', id: reader.id } });
    expect(denied.body.data[0]!.after).toMatchObject({ problem: 'forbidden' });
    // A made-up credential belongs to no organization: its refusal goes to the installation's own chain.
    const forged = await call({ ...conn, key: 'sbk_forged' }, 'POST', '/api/v1/agents', { name: 'no', model: 'gpt-4.1' });
    expect(forged.status).toBe(401);
    const db = inspectDatabase();
    try {
      const row = await db('audit_events')
        .where({ request_id: forged.headers.get('request-id') })
        .first<Record<string, string>>('organization_id', 'outcome', 'actor_type');
      expect(row).toEqual({ organization_id: 'installation', outcome: 'denied', actor_type: 'anonymous' });
    } finally {
      await db.destroy();
    }
  });

  it('filters by action or action prefix, actor, application and time, and pages without skipping or repeating', async () => {
    const agents = [];
    for (let i = 0; i < 5; i++) agents.push(await newAgent(conn));
    await call(conn, 'POST', `/api/v1/agents/${agents[0]!.id}/pause`);
    const prefix = await audited(conn, `applicationId=${app.appId}&action=agent.&limit=100`);
    expect(new Set(prefix.body.data.map((e) => e.action.split('.')[0]))).toEqual(new Set(['agent']));
    const paused = await audited(conn, `applicationId=${app.appId}&action=agent.pause`);
    expect(paused.body.data.map((e) => e.resource.id)).toEqual([agents[0]!.id]);

    const seen: string[] = [];
    let before: number | null = null;
    let pages = 0;
    do {
      const page: { body: Page } = await audited(conn, `applicationId=${app.appId}&action=agent.create&limit=2${before ? `&before=${before}` : ''}`);
      seen.push(...page.body.data.map((e) => e.id));
      // Writes between pages take newer positions: they never shift the pages still to come.
      if (pages++ === 0) await newAgent(conn);
      before = page.body.nextBefore;
    } while (before !== null);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBeGreaterThanOrEqual(5);

    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await audited(conn, `applicationId=${app.appId}&since=${encodeURIComponent(future)}`)).body.data).toEqual([]);
    expectProblem(await audited(conn, 'action=Agent'), 422, 'validation-error');
  });

  it('records the end-user a change was made for', async () => {
    const agent = await newAgent(conn, { model: 'echo' });
    const run = await call(conn, 'POST', '/api/v1/runs', { agentId: agent.id, input: {} }, { 'Switchboard-User': `customer-${randomUUID()}` });
    expect(run.status).toBe(201);
    const [event] = (await audited(conn, `runId=${run.body.id}&action=run.create`)).body.data;
    expect(event).toMatchObject({ endUserId: run.body.endUserId, runId: run.body.id });
    expect((await audited(conn, `endUserId=${run.body.endUserId}`)).body.data.map((e) => e.id)).toContain(event!.id);
  });
});

describe('streaming the audit log to a webhook endpoint', () => {
  it('sends each chained event of the application to the endpoints that opted in, and to no other', async () => {
    const received: { type: string; data: AuditEvent }[] = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as { type: string; data: AuditEvent });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/siem`;
      const streamApp = await isolatedApp('audit stream');
      const admin = { baseUrl: inject('auditUrl'), key: streamApp.key };
      const writer = await createKey({ scopes: ['write'], by: streamApp.key });
      expectProblem(await call({ ...admin, key: writer.secret }, 'POST', '/api/v1/webhook-endpoints', { url, eventTypes: ['audit.*'] }), 403, 'forbidden');
      const everything = await call(admin, 'POST', '/api/v1/webhook-endpoints', { url: `${url}/all` });
      expect(everything.status).toBe(201);
      const siem = await call(admin, 'POST', '/api/v1/webhook-endpoints', { url, eventTypes: ['audit.event'] });
      expect(siem.status).toBe(201);
      const agent = await newAgent(admin);
      const sent = await until('the audit event of the new agent', 10_000, () =>
        received.find((r) => r.type === 'audit.event' && r.data.resource.id === agent.id),
      );
      const [recorded] = (await audited(admin, `resourceId=${agent.id}`)).body.data;
      expect(sent.data).toEqual(recorded);
      expect(sent.data.hash).toMatch(/^[0-9a-f]{64}$/);
      // The endpoint without a filter gets the application's other events, never the audit stream.
      const messages = await call(admin, 'GET', `/api/v1/webhook-endpoints/${everything.body.id as string}/messages?pageSize=100`);
      expect((messages.body.data as { eventType: string }[]).map((m) => m.eventType)).not.toContain('audit.event');
    } finally {
      receiver.close();
    }
  });
});

describe('an organization of its own', () => {
  let owner: Person;
  let ownerConn: Conn;

  beforeAll(async () => {
    owner = await signUp(inject('serverUrl'), { name: 'Ada Lovelace' });
    ownerConn = { baseUrl: inject('auditUrl'), key: await personalToken(owner, { scopes: ['admin'] }) };
  });

  it('chains its events from the first, and the chain verifies', async () => {
    const apps = await call(ownerConn, 'GET', '/api/v1/applications');
    const appConn = { ...ownerConn, headers: { 'X-App-Id': apps.body.data[0].id as string } };
    await Promise.all(Array.from({ length: 20 }, () => newAgent(appConn)));
    const all: AuditEvent[] = [];
    let before: number | null = null;
    do {
      const page: { body: Page } = await audited(ownerConn, `limit=200${before ? `&before=${before}` : ''}`);
      all.push(...page.body.data);
      before = page.body.nextBefore;
    } while (before !== null);
    const chain = all.reverse();
    expect(chain.map((e) => e.position)).toEqual(chain.map((_, i) => i + 1));
    expect(chain[0]).toMatchObject({ action: 'user.sign_up', prevHash: '0'.repeat(64), actor: { type: 'session', userId: owner.userId } });
    for (const [i, e] of chain.entries()) {
      if (i) expect(e.prevHash).toBe(chain[i - 1]!.hash);
      expect(e.organizationId).toBe(owner.organizationId);
    }
    const verified = await call<Verification>(ownerConn, 'GET', '/api/v1/audit-events/verify');
    expect(verified.body).toMatchObject({ valid: true, from: 1, to: chain.length, checked: chain.length, firstBreak: null });
    expect(verified.body.head).toEqual({ position: chain.length, hash: chain[chain.length - 1]!.hash });
    // The hash is the documented function of the stored row: anyone can recompute it.
    const db = inspectDatabase();
    try {
      const row = await db('audit_events').where({ id: chain[3]!.id }).first();
      expect(auditHashOf(chain[2]!.hash, row)).toBe(chain[3]!.hash);
    } finally {
      await db.destroy();
    }
  });

  it('shows people who did what, by name and title', async () => {
    const apps = await call(ownerConn, 'GET', '/api/v1/applications');
    const appConn = { ...ownerConn, headers: { 'X-App-Id': apps.body.data[0].id as string } };
    const agent = await newAgent(appConn, { name: 'Support triage' });
    const activity = await call(ownerConn, 'GET', `/api/v1/activity?resourceId=${agent.id}`);
    expect(activity.status).toBe(200);
    expect(activity.body.data[0]).toMatchObject({
      object: 'activity',
      action: 'agent.create',
      actor: { type: 'personal_token', id: owner.userId, name: 'Ada Lovelace' },
      resource: { type: 'agent', id: agent.id, title: 'Support triage' },
      summary: 'Ada Lovelace created agent Support triage',
    });
  });

  it('records a change to the organization, and refuses a retention outside 1 to 3650 days', async () => {
    const org = await call(ownerConn, 'GET', '/api/v1/organization');
    expect(org.body.auditRetentionDays).toBe(365);
    const changed = await call(ownerConn, 'PATCH', '/api/v1/organization', { auditRetentionDays: 30 }, { 'If-Match': org.headers.get('etag')! });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ name: org.body.name, auditRetentionDays: 30 });
    expectProblem(
      await call(ownerConn, 'PATCH', '/api/v1/organization', { auditRetentionDays: 30 }, { 'If-Match': org.headers.get('etag')! }),
      412,
      'precondition-failed',
    );
    expectProblem(await call(ownerConn, 'PATCH', '/api/v1/organization', { auditRetentionDays: 0 }), 422, 'validation-error');
    const [event] = (await audited(ownerConn, 'action=organization.update')).body.data;
    expect(event).toMatchObject({
      resource: { type: 'organization', id: owner.organizationId },
      before: { auditRetentionDays: 365 },
      after: { auditRetentionDays: 30 },
    });
  });

  it('keeps each organization to its own log', async () => {
    const own = await audited(ownerConn, 'limit=200');
    expect(own.body.data.every((e) => e.organizationId === owner.organizationId)).toBe(true);
    const theirs = (await audited(conn, 'limit=1')).body.data[0]!;
    expectProblem(await call(ownerConn, 'GET', `/api/v1/audit-events/${theirs.id}`), 404, 'not-found');
  });
});
