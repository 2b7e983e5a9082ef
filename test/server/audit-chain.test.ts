import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditHashOf } from '@switchboard/server';
import type { components } from '../../server/src/generated/openapi.js';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { call, newAgent, type Conn } from './run-helpers.js';

type Verification = components['schemas']['AuditVerification'];
type Row = { id: string; position: number | string; after: string | null; hash: string; prev_hash: string };

const DAY_MS = 86_400_000;
let now = Date.now();
let running: InProcessServer;
let admin: Conn;
let organizationId: string;

beforeAll(async () => {
  running = await startInProcessServer({ now: () => now }, { RATE_LIMIT_COSTLY: '100000' });
  admin = { baseUrl: running.baseUrl, key: running.adminKey };
  organizationId = (await call<{ id: string }>(admin, 'GET', '/api/v1/organization')).body.id;
});

afterAll(async () => {
  await running?.stop();
});

const verify = async (query = '') => (await call<Verification>(admin, 'GET', `/api/v1/audit-events/verify${query}`)).body;
const rowAt = async (position: number) => (await running.server.db('audit_events').where({ organization_id: organizationId, position }).first()) as Row;

/** Runs `tamper`, checks what verify says, then puts the row back as it was. */
async function tampered(position: number, tamper: (row: Row) => Promise<void>): Promise<Verification> {
  const original = await running.server.db('audit_events').where({ organization_id: organizationId, position }).first();
  await tamper(original as Row);
  const result = await verify();
  await running.server
    .db('audit_events')
    .where({ id: (original as Row).id })
    .delete();
  await running.server.db('audit_events').insert(original);
  expect((await verify()).valid).toBe(true);
  return result;
}

describe('the audit chain', () => {
  it('stays whole under concurrent writers: positions without gaps, each event after the one before', async () => {
    await Promise.all(Array.from({ length: 40 }, () => newAgent(admin)));
    const result = await verify();
    expect(result).toMatchObject({ valid: true, from: 1, firstBreak: null });
    expect(result.checked).toBeGreaterThanOrEqual(40);
    expect(result.to).toBe(result.head.position);
    const positions = (await running.server.db('audit_events').where({ organization_id: organizationId }).orderBy('position').pluck('position')).map(Number);
    expect(positions).toEqual(positions.map((_, i) => i + 1));
  });

  it('finds a changed event, a removed one, and one rewritten with a hash to match', async () => {
    const edited = await tampered(5, async (row) => {
      await running.server
        .db('audit_events')
        .where({ id: row.id })
        .update({ after: row.after!.replace(/"name":"[^"]*"/, '"name":"Someone else"') });
    });
    expect(edited.firstBreak).toMatchObject({ position: 5, reason: 'hash_mismatch' });
    expect(edited.valid).toBe(false);

    const removed = await tampered(7, async (row) => {
      await running.server.db('audit_events').where({ id: row.id }).delete();
    });
    expect(removed.firstBreak).toMatchObject({ position: 7, reason: 'missing', auditEventId: null });

    const rehashed = await tampered(9, async (row) => {
      await running.server
        .db('audit_events')
        .where({ id: row.id })
        .update({ hash: 'f'.repeat(64) });
    });
    expect(rehashed.firstBreak).toMatchObject({ position: 9, reason: 'hash_mismatch' });

    // A forger who recomputes the changed event's hash breaks the next event's link instead.
    const forged = await tampered(9, async (row) => {
      const after = row.after!.replace(/"name":"[^"]*"/, '"name":"Someone else"');
      await running.server
        .db('audit_events')
        .where({ id: row.id })
        .update({ after, hash: auditHashOf(row.prev_hash, { ...row, after } as never) });
    });
    expect(forged.firstBreak).toMatchObject({ position: 10, reason: 'prev_hash_mismatch' });

    const head = (await verify()).head;
    const truncated = await tampered(head.position, async (row) => {
      await running.server.db('audit_events').where({ id: row.id }).delete();
    });
    expect(truncated.firstBreak).toMatchObject({ position: head.position, reason: 'missing' });
  });

  it('checks a range on its own, and names a break only inside it', async () => {
    const ranged = await verify('?from=3&to=6');
    expect(ranged).toMatchObject({ valid: true, from: 3, to: 6, checked: 4 });
    const before = await rowAt(2);
    await running.server.db('audit_events').where({ id: before.id }).update({ after: '{"changed":true}' });
    expect((await verify('?from=3&to=6')).valid).toBe(true);
    expect((await verify('?from=2&to=6')).firstBreak).toMatchObject({ position: 2, reason: 'hash_mismatch' });
    await running.server.db('audit_events').where({ id: before.id }).update({ after: before.after });
  });

  it('prunes what outlived the retention from the start of the chain, records it, and still verifies', async () => {
    const headBefore = (await verify()).head.position;
    now += 400 * DAY_MS;
    await newAgent(admin);
    await running.server.purgeNow();
    await running.server.chainAuditNow();
    const result = await verify();
    expect(result).toMatchObject({ valid: true, from: headBefore + 1 });
    const pruned = await call(admin, 'GET', '/api/v1/audit-events?action=audit.pruned');
    expect(pruned.body.data[0]).toMatchObject({ actor: { type: 'system', id: null }, after: { throughPosition: headBefore, retentionDays: 365 } });
    expect(pruned.body.data[0].after.deleted).toBe(headBefore);
    const [{ n }] = (await running.server
      .db('audit_events')
      .where({ organization_id: organizationId })
      .where('position', '<=', headBefore)
      .count({ n: '*' })) as [{ n: number | string }];
    expect(Number(n)).toBe(0);
    // Claiming more was pruned than the chain's own record says is a break.
    await running.server
      .db('audit_chains')
      .where({ organization_id: organizationId })
      .update({ pruned_through: headBefore + 1 });
    expect((await verify()).firstBreak).toMatchObject({ reason: 'missing', position: headBefore + 1 });
    await running.server.db('audit_chains').where({ organization_id: organizationId }).update({ pruned_through: headBefore });
    expect((await verify()).valid).toBe(true);
  });
});

type Export = components['schemas']['AuditExport'];

/** Queues an export, has the server write it, and downloads it. */
async function exported(body: Record<string, unknown>): Promise<{ job: Export; text: string; res: Response }> {
  const created = await call<Export>(admin, 'POST', '/api/v1/audit-events/exports', body);
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  await running.server.exportAuditNow();
  const job = (await call<Export>(admin, 'GET', `/api/v1/audit-events/exports/${created.body.id}`)).body;
  const res = await fetch(`${running.baseUrl}/api/v1/audit-events/exports/${job.id}/content`, { headers: { Authorization: `Bearer ${running.adminKey}` } });
  return { job, text: await res.text(), res };
}

describe('audit exports', () => {
  it('exports 100,000 events with their exact count and the SHA-256 of the file', async () => {
    const db = running.server.db;
    const start = Date.now();
    const rows = Array.from({ length: 100_000 }, (_, i) => ({
      id: `aud_${randomUUID().replace(/-/g, '').slice(0, 26).replace(/^./, '0')}`,
      organization_id: organizationId,
      application_id: null,
      action: 'agent.update',
      outcome: 'succeeded',
      status: 200,
      actor_type: 'system',
      resource_type: 'bulk',
      resource_id: `bulk-${i}`,
      request_id: `req_${String(i).padStart(26, '0')}`,
      after: JSON.stringify({ i, note: 'a, "quoted" value\nover two lines' }),
      created_at: new Date(now + i).toISOString(),
    }));
    for (let i = 0; i < rows.length; i += 500) await db('audit_events').insert(rows.slice(i, i + 500));
    await running.server.chainAuditNow();
    const chained = Date.now();

    const { job, text, res } = await exported({ format: 'ndjson', filters: { resourceType: 'bulk' } });
    const done = Date.now();
    expect(job).toMatchObject({ status: 'succeeded', rowCount: 100_000 });
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="audit-${job.id}.ndjson"`);
    expect(job.bytes).toBe(Buffer.byteLength(text));
    expect(createHash('sha256').update(text).digest('hex')).toBe(job.sha256);
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(100_000);
    const first = JSON.parse(lines[0]!) as { resource: { id: string }; position: number };
    const last = JSON.parse(lines[99_999]!) as { resource: { id: string }; position: number };
    expect([first.resource.id, last.resource.id]).toEqual(['bulk-0', 'bulk-99999']);
    expect(last.position - first.position).toBe(99_999);
    console.log(`audit export: 100,000 events chained in ${chained - start} ms, exported and downloaded in ${done - chained} ms (${job.bytes} bytes)`);
    expect((await verify()).valid).toBe(true);
  }, 300_000);

  it('writes CSV as RFC 4180, quoting what needs it, and holds only what the filters match', async () => {
    const { job, text, res } = await exported({ format: 'csv', filters: { resourceType: 'bulk', resourceId: 'bulk-7' } });
    expect(job).toMatchObject({ status: 'succeeded', rowCount: 1 });
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(createHash('sha256').update(text).digest('hex')).toBe(job.sha256);
    const [header, row, end] = text.split('\r\n');
    expect(header!.split(',').slice(0, 3)).toEqual(['id', 'position', 'created_at']);
    expect(row).toContain('"{""i"":7,""note"":""a, \\""quoted\\"" value\\nover two lines""}"');
    expect(end).toBe('');
  });

  it('answers 409 for a file not written yet or deleted at its expiry, and forgets nothing it was asked for', async () => {
    // One another replica is writing (its claim runs for another hour).
    const busy = { id: 'audexp_01jd4x7p2kf8q6v3b9m5t0s1ab', organization_id: organizationId, status: 'running', format: 'csv', filters: '{}' };
    await running.server
      .db('file_exports')
      .insert({ ...busy, claim_expires_at: new Date(now + 3_600_000).toISOString(), created_at: new Date(now).toISOString() });
    const early = await call(admin, 'GET', `/api/v1/audit-events/exports/${busy.id}/content`);
    expect(early.status).toBe(409);
    expect(early.body.detail).toContain('running');
    await running.server.exportAuditNow();
    expect((await call<Export>(admin, 'GET', `/api/v1/audit-events/exports/${busy.id}`)).body.status).toBe('running');

    const created = await call<Export>(admin, 'POST', '/api/v1/audit-events/exports', { format: 'ndjson', filters: { resourceId: 'bulk-3' } });
    await running.server.exportAuditNow();
    expect((await call<Export>(admin, 'GET', `/api/v1/audit-events/exports/${created.body.id}`)).body).toMatchObject({ status: 'succeeded', rowCount: 1 });
    now += 25 * 3_600_000;
    await running.server.purgeNow();
    const expired = await call<Export>(admin, 'GET', `/api/v1/audit-events/exports/${created.body.id}`);
    expect(expired.body.status).toBe('expired');
    const late = await call(admin, 'GET', `/api/v1/audit-events/exports/${created.body.id}/content`);
    expect(late.status).toBe(409);
    expect(late.body.detail).toContain('expired');
    expect(await running.server.db('file_export_parts').where({ export_id: created.body.id }).pluck('part')).toEqual([]);
  });
});
