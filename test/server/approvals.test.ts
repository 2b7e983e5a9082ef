import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Switchboard } from '@switchboard/sdk';
import type { components } from '../../server/src/generated/openapi.js';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { personalToken, signUp, uniqueEmail, type Person } from '../support/people.js';
import {
  appendEvents,
  BEFORE_APPROVALS,
  call,
  claim,
  claimReq,
  complete,
  expectLeaseLost,
  expectProblem,
  getRun,
  heartbeat,
  label,
  newAgent,
  newRun,
  newRunner,
  runEvents,
  runnerConn,
  type Conn,
  type Run,
} from './run-helpers.js';

type Approval = components['schemas']['Approval'];
type RunApprovalEvent = components['schemas']['RunApprovalEvent'];
type ApprovalList = components['schemas']['ApprovalList'];

/** Approvals on a server whose clock the test moves (expiry), acted on by people of one organization. */
let now = Date.now();
let running: InProcessServer;
let owner: Person;
let member: Person;
let other: Person;
/** The application's key, and the member's and the other member's personal tokens, in the owner's first application. */
let app: Conn;
let asMember: Conn;
let asOther: Conn;

beforeAll(async () => {
  running = await startInProcessServer({ now: () => now });
  owner = await signUp(running.baseUrl, { name: 'Olga Owner' });
  const apps = (await (await owner.browser.fetch('/api/v1/applications')).json()) as { data: { id: string }[] };
  const appId = apps.data[0]!.id;
  const key = await owner.browser.fetch('/api/v1/api-keys', { json: { name: 'service', scopes: ['write'] }, headers: { 'X-App-Id': appId } });
  expect(key.status, await key.clone().text()).toBe(201);
  app = { baseUrl: running.baseUrl, key: ((await key.json()) as { secret: string }).secret };
  const colleague = async (name: string) => {
    const email = uniqueEmail(name);
    const invitation = await owner.browser.fetch('/api/v1/invitations', { json: { email, role: 'member' } });
    expect(invitation.status).toBe(201);
    return signUp(running.baseUrl, { email, invitationToken: ((await invitation.json()) as { token: string }).token });
  };
  member = await colleague('mia');
  other = await colleague('otto');
  asMember = { baseUrl: running.baseUrl, key: await personalToken(member), headers: { 'X-App-Id': appId } };
  asOther = { baseUrl: running.baseUrl, key: await personalToken(other), headers: { 'X-App-Id': appId } };
});
afterAll(() => running?.stop());

const later = (seconds: number) => (now += seconds * 1000);
/** Concurrent clients where the database takes concurrent writes. */
const PARALLEL = process.env.DATABASE_URL ? 5 : 1;

/** A run of an agent only this runner claims, claimed: the run token is its agent's credential. */
async function claimedRun(agentBody: Record<string, unknown> = {}, runHeaders: Record<string, string> = {}) {
  const tag = label();
  const agent = await newAgent(app, { labels: [tag], ...agentBody });
  const runner = await newRunner(app, [tag]);
  const rc = runnerConn(running.baseUrl, runner);
  const run = await newRun(app, agent.id, {}, runHeaders);
  const c = await claim(rc, runner.id);
  expect(c.run.id).toBe(run.id);
  return { agent, runner, rc, run, claim: c, asRun: { baseUrl: running.baseUrl, key: c.runToken.token } as Conn };
}

const REFUND_SCHEMA = {
  type: 'object',
  required: ['orderId', 'amountMinor'],
  properties: { orderId: { type: 'string' }, amountMinor: { type: 'integer', minimum: 1, maximum: 4900 } },
  additionalProperties: false,
};

const ask = (asRun: Conn, runId: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  call<Approval>(asRun, 'POST', `/api/v1/runs/${runId}/approvals`, body, headers);
const decide = (by: Conn, id: string, body: Record<string, unknown>) => call<Approval>(by, 'POST', `/api/v1/approvals/${id}/decisions`, body);

async function asked(body: Record<string, unknown> = {}, agentBody: Record<string, unknown> = {}, runHeaders: Record<string, string> = {}) {
  const s = await claimedRun(agentBody, runHeaders);
  const r = await ask(s.asRun, s.run.id, { title: 'Refund 49.00 EUR for order 10-2291?', payload: { orderId: '10-2291', amountMinor: 4900 }, ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return { ...s, approval: r.body };
}

describe('a run asks a person', () => {
  it('waits on its approval holding no lease: its runner heartbeats into 409, is free to claim another run, and its token is spent', async () => {
    const s = await claimedRun({ limits: { timeoutSeconds: 600 } });
    const r = await ask(
      s.asRun,
      s.run.id,
      { title: 'Refund?', payload: { orderId: '1', amountMinor: 100 }, payloadSchema: REFUND_SCHEMA, expiresInSeconds: 3600 },
      { 'Idempotency-Key': 'ask-1' },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.headers.get('location')).toBe(`/api/v1/approvals/${r.body.id}`);
    expect(r.body).toMatchObject({
      object: 'approval',
      runId: s.run.id,
      agentId: s.agent.id,
      kind: 'approval',
      status: 'pending',
      decision: null,
      onExpire: 'reject',
      assignees: [],
    });
    expect(r.body.expiresAt).toBe(new Date(now + 3_600_000).toISOString());
    const run = await getRun(app, s.run.id);
    expect(run).toMatchObject({
      status: 'waiting',
      waitingFor: { kind: 'approval', approvalId: r.body.id, expiresAt: r.body.expiresAt, onExpire: 'reject' },
      requiredAction: { type: 'approval', message: 'Refund?', data: { orderId: '1', amountMinor: 100 } },
    });
    // The lease is gone: the runner learns it at once, and may take other work.
    expectLeaseLost(await heartbeat(s.rc, s.claim.lease.id, s.claim.lease.fencingToken), 'wait on a person');
    const next = await newRun(app, s.agent.id);
    expect((await claim(s.rc, s.runner.id)).run.id).toBe(next.id);
    // The same request again is the same answer; another ask is refused: the run already waits.
    const replay = await ask(
      s.asRun,
      s.run.id,
      { title: 'Refund?', payload: { orderId: '1', amountMinor: 100 }, payloadSchema: REFUND_SCHEMA, expiresInSeconds: 3600 },
      { 'Idempotency-Key': 'ask-1' },
    );
    expect(replay.status).toBe(201);
    expect(replay.body.id).toBe(r.body.id);
    expectLeaseLost(await ask(s.asRun, s.run.id, { title: 'Again?' }), r.body.id);
    // The spent token reaches nothing else.
    const spent = await call<{ error: { message: string } }>(s.asRun, 'GET', '/api/v1/llm/openai/v1/models');
    expect(spent.status).toBe(401);
    expect(spent.body.error.message).toContain('lease has ended');
    const events = (await runEvents(app, s.run.id)).map((e) => (e.type === 'status' ? `status:${e.data.status as string}` : e.type));
    expect(events).toEqual(['status:queued', 'status:running', 'approval.requested', 'status:waiting']);
  });

  it('only the run itself asks, with its own token; what it asks is checked (422) and nothing is stored', async () => {
    const s = await claimedRun();
    const t = await claimedRun();
    expectProblem(await ask(app, s.run.id, { title: 'x' }), 401, 'unauthorized');
    expectProblem(await ask(t.asRun, s.run.id, { title: 'x' }), 403, 'forbidden', 'its own run');
    for (const [body, pointer] of [
      [{ title: 'x', payload: { orderId: 1 }, payloadSchema: REFUND_SCHEMA }, '/payload/orderId'],
      [{ title: 'x', payloadSchema: { type: 'no-such-type' } }, '/payloadSchema'],
      [{ title: 'x', payloadSchema: { $ref: 'https://example.com/schema.json' } }, '/payloadSchema'],
      [{ title: 'x', kind: 'input', payloadSchema: { type: 'object' } }, '/payloadSchema'],
      [{ title: 'x', responseSchema: { type: 'string' } }, '/responseSchema'],
      [{ title: 'x', assignees: [{ type: 'end_user' }] }, '/assignees/0'],
      [{ title: 'x', assignees: [{ type: 'user', userId: 'user_01jd4x8c3e6g9j2m5p8r1t4w7y' }] }, '/assignees/0/userId'],
      [{ title: 'x', expiresInSeconds: 10 }, '/expiresInSeconds'],
    ] as const) {
      const p = expectProblem(await ask(s.asRun, s.run.id, body), 422, 'validation-error');
      expect(
        p.errors!.map((e) => e.pointer),
        JSON.stringify(body),
      ).toContain(pointer);
    }
    expect((await getRun(app, s.run.id)).status).toBe('running');
    expect((await call<ApprovalList>(app, 'GET', `/api/v1/approvals?runId=${s.run.id}`)).body.data).toEqual([]);
  });
});

describe('deciding', () => {
  it('approve with an edited payload: checked against its schema, the run is queued and resumes with a new fencing token and the edit', async () => {
    const s = await asked({ payloadSchema: REFUND_SCHEMA });
    const bad = expectProblem(
      await decide(app, s.approval.id, { outcome: 'approve', editedPayload: { orderId: '10-2291', amountMinor: 9900 } }),
      422,
      'validation-error',
    );
    expect(bad.errors!.map((e) => e.pointer)).toEqual(['/editedPayload/amountMinor']);
    const decided = await decide(asMember, s.approval.id, { outcome: 'approve', editedPayload: { orderId: '10-2291', amountMinor: 2500 }, note: 'Half.' });
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    expect(decided.body).toMatchObject({
      status: 'approved',
      decision: {
        outcome: 'approve',
        note: 'Half.',
        editedPayload: { orderId: '10-2291', amountMinor: 2500 },
        response: null,
        decidedBy: { type: 'user', id: member.userId },
      },
    });
    expect(decided.body.resolvedAt).toBe(new Date(now).toISOString());
    expect(await getRun(app, s.run.id)).toMatchObject({ status: 'queued', waitingFor: null, requiredAction: null, attempt: 1 });

    const resumed = await claim(s.rc, s.runner.id);
    expect(resumed.run.id).toBe(s.run.id);
    expect(resumed.lease.fencingToken).toBe(s.claim.lease.fencingToken + 1);
    expect(resumed.resume).toEqual({
      approvalId: s.approval.id,
      kind: 'approval',
      status: 'approved',
      decision: decided.body.decision,
      payload: { orderId: '10-2291', amountMinor: 2500 },
      checkpoint: null,
    });
    expect(resumed.lastRunnerSeq).toBe(0);
    // The old lease's fencing token is stale for good.
    expectLeaseLost(await complete(s.rc, s.claim.lease.id, { fencingToken: s.claim.lease.fencingToken, status: 'succeeded', output: {} }));
    const done = await complete(s.rc, resumed.lease.id, {
      fencingToken: resumed.lease.fencingToken,
      status: 'succeeded',
      output: { refunded: resumed.resume!.payload.amountMinor },
    });
    expect(done.body).toMatchObject({ status: 'succeeded', output: { refunded: 2500 } });
    const statuses = (await runEvents(app, s.run.id)).map((e) => (e.type === 'status' ? (e.data.status as string) : e.type));
    expect(statuses).toEqual(['queued', 'running', 'approval.requested', 'waiting', 'approval.decided', 'queued', 'running', 'succeeded']);
  });

  it('the checkpoint a run asks with comes back with every claim that resumes it, never with the approval; its events are numbered on', async () => {
    const s = await claimedRun();
    const mine = await appendEvents(s.rc, s.claim.lease.id, s.claim.lease.fencingToken, [
      { runnerSeq: 1, type: 'log', data: { message: 'looked the order up' } },
      { runnerSeq: 2, type: 'log', data: { message: 'about to ask' } },
    ]);
    expect(mine.status).toBe(200);
    const checkpoint = { step: 3, notes: ['order 10-2291', { amountMinor: 4900 }] };
    const r = await ask(s.asRun, s.run.id, { title: 'Refund?', checkpoint });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).not.toHaveProperty('checkpoint');
    expect((await call<Approval>(app, 'GET', `/api/v1/approvals/${r.body.id}`)).body).not.toHaveProperty('checkpoint');
    await decide(app, r.body.id, { outcome: 'request_changes', note: 'Ask the customer first.' });
    const resumed = await claim(s.rc, s.runner.id);
    expect(resumed.resume).toMatchObject({ status: 'changes_requested', checkpoint });
    expect(resumed.lastRunnerSeq).toBe(2);
    // Numbered after the earlier lease's events, the resumed run's are stored, not taken for retries.
    const after = await appendEvents(s.rc, resumed.lease.id, resumed.lease.fencingToken, [
      { runnerSeq: 3, type: 'log', data: { message: 'asked the customer' } },
    ]);
    expect(after.status).toBe(200);
    const logs = (await runEvents(app, s.run.id)).filter((e) => e.type === 'log').map((e) => e.data.message);
    expect(logs).toEqual(['looked the order up', 'about to ask', 'asked the customer']);
  });

  it('reject needs a note; the run resumes rejected; a second decision is 409 approval-resolved', async () => {
    const s = await asked();
    const issue = (reply: Awaited<ReturnType<typeof decide>>) =>
      expectProblem(reply, 422, 'validation-error')
        .errors!.map((e) => `${e.pointer} ${e.detail}`)
        .join('; ');
    expect(issue(await decide(app, s.approval.id, { outcome: 'reject' }))).toContain('/note A note is required to reject');
    expect(issue(await decide(app, s.approval.id, { outcome: 'answer', response: 'yes' }))).toContain(
      '/outcome An approval is decided with approve, reject, request_changes',
    );
    expect(issue(await decide(app, s.approval.id, { outcome: 'approve', editedPayload: { orderId: '1' } }))).toContain(
      '/editedPayload This approval has no payloadSchema',
    );
    const rejected = await decide(app, s.approval.id, { outcome: 'reject', note: 'Older than 90 days.' });
    expect(rejected.body).toMatchObject({ status: 'rejected', decision: { outcome: 'reject', note: 'Older than 90 days.', decidedBy: { type: 'api_key' } } });
    expectProblem(await decide(asMember, s.approval.id, { outcome: 'approve' }), 409, 'approval-resolved', 'rejected');
    const resumed = await claim(s.rc, s.runner.id);
    expect(resumed.resume).toMatchObject({ status: 'rejected', decision: { outcome: 'reject', note: 'Older than 90 days.' }, payload: s.approval.payload });
  });

  it('an input request is answered, the answer checked against its responseSchema', async () => {
    const s = await asked({ kind: 'input', title: 'Which account?', responseSchema: { type: 'string', enum: ['personal', 'business'] } });
    const issue = (reply: Awaited<ReturnType<typeof decide>>) =>
      expectProblem(reply, 422, 'validation-error')
        .errors!.map((e) => `${e.pointer} ${e.detail}`)
        .join('; ');
    expect(issue(await decide(app, s.approval.id, { outcome: 'approve' }))).toContain('/outcome An input is decided with answer, reject');
    expect(issue(await decide(app, s.approval.id, { outcome: 'answer', response: 'savings' }))).toContain('/response The response does not fit its schema');
    expect((await decide(app, s.approval.id, { outcome: 'answer', response: 'business' })).body).toMatchObject({
      status: 'answered',
      decision: { response: 'business' },
    });
    expect((await claim(s.rc, s.runner.id)).resume).toMatchObject({ kind: 'input', status: 'answered', decision: { outcome: 'answer', response: 'business' } });
  });

  it('two concurrent decisions: exactly one wins, the run is queued once', async () => {
    for (let round = 0; round < 5; round++) {
      const s = await asked();
      const replies = await Promise.all([
        decide(app, s.approval.id, { outcome: 'approve' }),
        decide(asMember, s.approval.id, { outcome: 'reject', note: 'No.' }),
        decide(asOther, s.approval.id, { outcome: 'reject', note: 'Never.' }),
      ]);
      expect(replies.map((r) => r.status).sort()).toEqual([200, 409, 409]);
      for (const loser of replies.filter((r) => r.status === 409)) expectProblem(loser, 409, 'approval-resolved');
      const winner = replies.find((r) => r.status === 200)!.body;
      expect((await call<Approval>(app, 'GET', `/api/v1/approvals/${s.approval.id}`)).body).toEqual(winner);
      const statuses = (await runEvents(app, s.run.id)).filter((e) => e.type === 'status').map((e) => e.data.status);
      expect(statuses).toEqual(['queued', 'running', 'waiting', 'queued']);
      expect((await runEvents(app, s.run.id)).filter((e) => e.type === 'approval.decided')).toHaveLength(1);
      await call(app, 'POST', `/api/v1/runs/${s.run.id}/cancel`);
    }
  });

  it('an agent never decides (403), whatever run its token is for; assignees decide, others are 403', async () => {
    const s = await asked({ assignees: [{ type: 'user', userId: member.userId }] });
    const agent = await claimedRun();
    expectProblem(await decide(agent.asRun, s.approval.id, { outcome: 'approve' }), 403, 'forbidden', 'An agent never decides');
    expectProblem(await call(agent.asRun, 'POST', `/api/v1/approvals/${s.approval.id}/comments`, { body: 'Yes!' }), 403, 'forbidden');
    expectProblem(await decide(asOther, s.approval.id, { outcome: 'approve' }), 403, 'forbidden', 'assigned to others');
    // The inbox of each shows what each may decide.
    const inboxOf = async (c: Conn) => (await call<ApprovalList>(c, 'GET', `/api/v1/inbox?agentId=${s.agent.id}`)).body.data.map((a) => a.id);
    expect(await inboxOf(asMember)).toEqual([s.approval.id]);
    expect(await inboxOf(asOther)).toEqual([]);
    expect(await inboxOf(app)).toEqual([s.approval.id]);
    expect((await decide(asMember, s.approval.id, { outcome: 'approve' })).status).toBe(200);
    expect(await inboxOf(asMember)).toEqual([]);
  });

  it('a role assignee admits that role; an end-user assignee admits the run end-user alone, with their token', async () => {
    const byRole = await asked({ assignees: [{ type: 'role', role: 'admin' }] });
    expectProblem(await decide(asMember, byRole.approval.id, { outcome: 'approve' }), 403, 'forbidden', 'role admin');
    const ownerToken: Conn = { baseUrl: running.baseUrl, key: await personalToken(owner), headers: asMember.headers };
    expect((await decide(ownerToken, byRole.approval.id, { outcome: 'approve' })).status).toBe(200);

    const forCustomer = await asked({ kind: 'input', title: 'Which order?', assignees: [{ type: 'end_user' }] }, {}, { 'Switchboard-User': 'customer-7' });
    const endUserId = forCustomer.run.endUserId!;
    const minted = await call<{ token: string }>(app, 'POST', `/api/v1/end-users/${endUserId}/tokens`, {});
    expect(minted.status, JSON.stringify(minted.body)).toBe(201);
    const asCustomer: Conn = { baseUrl: running.baseUrl, key: minted.body.token };
    expect((await call<ApprovalList>(asCustomer, 'GET', '/api/v1/inbox')).body.data.map((a) => a.id)).toEqual([forCustomer.approval.id]);
    // Another end-user's approval is not theirs to see.
    expectProblem(await call(asCustomer, 'GET', `/api/v1/approvals/${byRole.approval.id}`), 404, 'not-found');
    const answered = await decide(asCustomer, forCustomer.approval.id, { outcome: 'answer', response: { orderId: '10-2291' } });
    expect(answered.body.decision).toMatchObject({ decidedBy: { type: 'end_user', id: endUserId } });
  });

  it('a comment with wake requests changes with its text: the run resumes to read it; a plain comment disturbs nothing', async () => {
    const s = await asked();
    const plain = await call(asMember, 'POST', `/api/v1/approvals/${s.approval.id}/comments`, { body: 'Looking into it.' });
    expect(plain.status, JSON.stringify(plain.body)).toBe(201);
    expect((await getRun(app, s.run.id)).status).toBe('waiting');
    const woke = await call(asMember, 'POST', `/api/v1/approvals/${s.approval.id}/comments`, { body: 'Check the carrier claim first.', wake: true });
    expect(woke.body).toMatchObject({ object: 'approval_comment', wake: true, author: { type: 'user', id: member.userId } });
    expect((await call<Approval>(app, 'GET', `/api/v1/approvals/${s.approval.id}`)).body).toMatchObject({
      status: 'changes_requested',
      decision: { outcome: 'request_changes', note: 'Check the carrier claim first.' },
    });
    expect((await claim(s.rc, s.runner.id)).resume).toMatchObject({ status: 'changes_requested' });
    const comments = await call<{ data: { body: string }[] }>(app, 'GET', `/api/v1/approvals/${s.approval.id}/comments`);
    expect(comments.body.data.map((c) => c.body)).toEqual(['Looking into it.', 'Check the carrier claim first.']);
    // The approval is resolved: waking it again is a second decision.
    expectProblem(await call(asMember, 'POST', `/api/v1/approvals/${s.approval.id}/comments`, { body: 'Again', wake: true }), 409, 'approval-resolved');
  });

  it('a run cancelled while it waits cancels its approval; deciding it then is 409', async () => {
    const s = await asked();
    expect((await call(app, 'POST', `/api/v1/runs/${s.run.id}/cancel`)).status).toBe(200);
    expect((await call<Approval>(app, 'GET', `/api/v1/approvals/${s.approval.id}`)).body).toMatchObject({ status: 'cancelled', decision: null });
    expectProblem(await decide(app, s.approval.id, { outcome: 'approve' }), 409, 'approval-resolved', 'cancelled');
    expect((await runEvents(app, s.run.id)).map((e) => e.type).slice(-2)).toEqual(['status', 'approval.cancelled']);
  });
});

describe('the inbox stream', () => {
  it('streams the approval events of what the caller may decide, resumes without a gap or a duplicate, and filters by kind', async () => {
    const appId = asMember.headers!['X-App-Id']!;
    const asSdk = (c: Conn) => new Switchboard({ baseUrl: running.baseUrl, apiKey: c.key, appId });
    const tag = label();
    /** The events of this test's approvals (their titles start with its tag) a stream sends, as `type title`, once `count` came. */
    const follow = async (stream: AsyncGenerator<RunApprovalEvent, void, undefined>, count: number) => {
      const seen: { cursor: number; what: string }[] = [];
      for await (const event of stream) {
        if (event.data.title.startsWith(tag)) seen.push({ cursor: event.cursor, what: `${event.type} ${event.data.title.slice(tag.length + 1)}` });
        if (seen.length === count) break;
      }
      return seen;
    };
    const abort = new AbortController();
    const member = follow(asSdk(asMember).inbox.stream({ signal: abort.signal }), 4);
    const everything = follow(asSdk(app).inbox.stream({ signal: abort.signal }), 5);

    const open = await asked({ title: `${tag} open` });
    await asked({ title: `${tag} others`, assignees: [{ type: 'user', userId: other.userId }] });
    const members = await asked({ title: `${tag} members`, assignees: [{ type: 'role', role: 'member' }] });
    expect((await decide(app, open.approval.id, { outcome: 'approve' })).status).toBe(200);
    expect((await decide(asMember, members.approval.id, { outcome: 'reject', note: 'No.' })).status).toBe(200);

    const seen = await member;
    expect(seen.map((e) => e.what)).toEqual(['approval.requested open', 'approval.requested members', 'approval.decided open', 'approval.decided members']);
    expect((await everything).map((e) => e.what)).toEqual([
      'approval.requested open',
      'approval.requested others',
      'approval.requested members',
      'approval.decided open',
      'approval.decided members',
    ]);
    // Resumed after its first event, the member's stream goes on from there.
    const resumed = await follow(asSdk(asMember).inbox.stream({ after: seen[0]!.cursor, signal: abort.signal }), 3);
    expect(resumed).toEqual(seen.slice(1));
    // Only input requests: none of the approvals above, then the new question as it is asked.
    const inputs = follow(asSdk(asMember).inbox.stream({ kind: 'input', after: seen[0]!.cursor, signal: abort.signal }), 1);
    await asked({ kind: 'input', title: `${tag} question` });
    expect((await inputs).map((e) => e.what)).toEqual(['approval.requested question']);
    abort.abort();
  });
});

describe('expiry', () => {
  it('under each policy: reject resumes it as expired (no decision), cancel_run cancels, fail_run fails; never a person', async () => {
    const byPolicy = Object.fromEntries(
      await Promise.all(['reject', 'cancel_run', 'fail_run'].map(async (onExpire) => [onExpire, await asked({ onExpire, expiresInSeconds: 60 })] as const)),
    );
    later(59);
    await running.server.expireApprovalsNow();
    for (const s of Object.values(byPolicy)) expect((await call<Approval>(app, 'GET', `/api/v1/approvals/${s.approval.id}`)).body.status).toBe('pending');
    later(1);
    await running.server.expireApprovalsNow();
    for (const s of Object.values(byPolicy)) {
      expect((await call<Approval>(app, 'GET', `/api/v1/approvals/${s.approval.id}`)).body).toMatchObject({ status: 'expired', decision: null });
    }
    const rejected = byPolicy.reject!;
    expect(await getRun(app, rejected.run.id)).toMatchObject({ status: 'queued' });
    expect((await claim(rejected.rc, rejected.runner.id)).resume).toEqual({
      approvalId: rejected.approval.id,
      kind: 'approval',
      status: 'expired',
      decision: null,
      payload: rejected.approval.payload,
      checkpoint: null,
    });
    expect(await getRun(app, byPolicy.cancel_run!.run.id)).toMatchObject({ status: 'cancelled' });
    expect(await getRun(app, byPolicy.fail_run!.run.id)).toMatchObject({ status: 'failed', error: { code: 'approval_expired' } });
    const reasons = (await runEvents(app, byPolicy.fail_run!.run.id)).filter((e) => e.type === 'status').at(-1)!.data;
    expect(reasons).toMatchObject({ status: 'failed', reason: 'approval_expired', approvalId: byPolicy.fail_run!.approval.id });
    expectProblem(await decide(app, rejected.approval.id, { outcome: 'approve' }), 409, 'approval-resolved', 'expired');
  });

  it('waiting does not count against the timeout: the resumed run has what was left of it', async () => {
    const s = await claimedRun({ limits: { timeoutSeconds: 600 } });
    for (let i = 0; i < 5; i++) {
      later(20);
      expect((await heartbeat(s.rc, s.claim.lease.id, 1)).status).toBe(200);
    }
    const r = await ask(s.asRun, s.run.id, { title: 'Wait a day?', expiresInSeconds: 7 * 86_400 });
    expect(r.status).toBe(201);
    later(86_400);
    await running.server.reapNow();
    expect((await getRun(app, s.run.id)).status).toBe('waiting');
    expect((await decide(app, r.body.id, { outcome: 'approve' })).status).toBe(200);
    const resumed = await claim(s.rc, s.runner.id);
    expect(resumed.runToken.expiresAt).toBe(new Date(now + 500_000).toISOString());
  });
});

describe('1,000 runs waiting on people', () => {
  it('hold no lease and no runner capacity; deciding all resumes each exactly once', async () => {
    const N = 1000;
    const tag = label();
    const agent = await newAgent(app, { labels: [tag], limits: { maxConcurrentRuns: 5 } });
    const runner = await newRunner(app, [tag]);
    const rc = runnerConn(running.baseUrl, runner);
    const inBatches = async <T>(count: number, one: (i: number) => Promise<T>) => {
      const out: T[] = [];
      for (let i = 0; i < count; i += 25) out.push(...(await Promise.all(Array.from({ length: Math.min(25, count - i) }, (_, j) => one(i + j)))));
      return out;
    };
    const runs = await inBatches(N, () => newRun(app, agent.id));
    // maxConcurrentRuns 5: one runner takes them all, each run asking, which frees its place. On
    // PostgreSQL five workers claim at once (on SQLite, whose writes take turns, one is faster).
    const workers = async (target: () => boolean, work: () => Promise<void>) => {
      const deadline = Date.now() + 200_000;
      await Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          while (!target() && Date.now() < deadline) await work();
        }),
      );
    };
    const approvals: string[] = [];
    await workers(
      () => approvals.length >= N,
      async () => {
        const got = await claimReq(rc, runner.id);
        if (got.status !== 200) return;
        const r = await ask({ baseUrl: running.baseUrl, key: got.body.runToken.token }, got.body.run.id, { title: `Run ${got.body.run.id}?` });
        expect(r.status).toBe(201);
        approvals.push(r.body.id);
      },
    );
    expect(approvals).toHaveLength(N);
    const waiting = await call<{ pagination: { total: number } }>(app, 'GET', `/api/v1/runs?agentId=${agent.id}&status=waiting&pageSize=1`);
    expect(waiting.body.pagination.total).toBe(N);
    const leases = (await running.server.db('runs').where({ agent_id: agent.id }).whereNotNull('lease_expires_at').count({ n: '*' })) as [
      { n: number | string },
    ];
    expect(Number(leases[0].n)).toBe(0);
    // No capacity is taken: a new run of the agent is claimed at once.
    const extra = await newRun(app, agent.id);
    const extraClaim = await claim(rc, runner.id);
    expect(extraClaim.run.id).toBe(extra.id);
    await complete(rc, extraClaim.lease.id, { fencingToken: extraClaim.lease.fencingToken, status: 'succeeded', output: {} });

    // The limit has made its point; without it the resumed runs are claimed without queuing on the agent's lock.
    expect(
      (await call(app, 'PATCH', `/api/v1/agents/${agent.id}`, { limits: { maxConcurrentRuns: null } }, { 'Content-Type': 'application/merge-patch+json' }))
        .status,
    ).toBe(200);
    await inBatches(N, (i) => decide(app, approvals[i]!, { outcome: 'approve' }).then((r) => expect(r.status).toBe(200)));
    const resumedIds: string[] = [];
    await workers(
      () => resumedIds.length >= N,
      async () => {
        const got = await claimReq(rc, runner.id);
        if (got.status !== 200) return;
        expect(got.body.resume).toMatchObject({ status: 'approved' });
        resumedIds.push(got.body.run.id);
        expect((await complete(rc, got.body.lease.id, { fencingToken: got.body.lease.fencingToken, status: 'succeeded', output: {} })).status).toBe(200);
      },
    );
    // Nothing is left to resume, and no run resumed twice.
    expect((await claimReq(rc, runner.id)).status).toBe(204);
    expect(resumedIds.sort()).toEqual(runs.map((r: Run) => r.id).sort());
  }, 240_000);
});

describe('clients of version 2026-12-05', () => {
  it('waitRun keeps the lease and asks through an approval in every inbox; decideApproval resumes it in place; the newest version has no waitRun', async () => {
    const s = await claimedRun();
    const w = await call<Run>(
      s.rc,
      'POST',
      `/api/v1/leases/${s.claim.lease.id}/wait`,
      { fencingToken: 1, requiredAction: { type: 'input', message: 'Which account?', data: {} } },
      BEFORE_APPROVALS,
    );
    expect(w.status, JSON.stringify(w.body)).toBe(200);
    expect(w.headers.get('switchboard-version')).toBe('2026-12-05');
    expect(w.body).toMatchObject({ status: 'waiting', requiredAction: { type: 'input', message: 'Which account?' } });
    const approvalId = w.body.waitingFor!.approvalId;
    expect((await call<ApprovalList>(app, 'GET', '/api/v1/inbox')).body.data.map((a) => a.id)).toContain(approvalId);
    expect((await heartbeat(s.rc, s.claim.lease.id, 1)).status).toBe(200);
    expect((await decide(app, approvalId, { outcome: 'answer', response: { account: 'business' } })).status).toBe(200);
    const hb = await heartbeat(s.rc, s.claim.lease.id, 1);
    expect(hb.body.run).toMatchObject({ status: 'running', requiredAction: null });
    const last = (await runEvents(app, s.run.id)).filter((e) => e.type === 'status').at(-1)!;
    expect(last.data).toMatchObject({ status: 'running', previousStatus: 'waiting', input: { account: 'business' } });
    expectProblem(
      await call(s.rc, 'POST', `/api/v1/leases/${s.claim.lease.id}/wait`, { fencingToken: 1, requiredAction: { type: 'input', message: 'x', data: {} } }),
      404,
      'not-found',
      'removed in version 2026-12-06',
    );
    // An answer that is no object reaches such a runner as one, as resumeRun's input always was.
    const t2 = await claimedRun();
    const w2 = await call<Run>(
      t2.rc,
      'POST',
      `/api/v1/leases/${t2.claim.lease.id}/wait`,
      { fencingToken: 1, requiredAction: { type: 'input', message: 'Which?', data: {} } },
      BEFORE_APPROVALS,
    );
    expect((await decide(app, w2.body.waitingFor!.approvalId, { outcome: 'answer', response: 'business' })).status).toBe(200);
    expect((await runEvents(app, t2.run.id)).filter((e) => e.type === 'status').at(-1)!.data).toMatchObject({
      status: 'running',
      input: { answer: 'business' },
    });
  });

  it('an approval.* event a runner of that version appends is kept as run.legacy.approval.*, read back as sent there', async () => {
    const s = await claimedRun();
    const sent = await call(
      s.rc,
      'POST',
      `/api/v1/leases/${s.claim.lease.id}/events`,
      { fencingToken: 1, events: [{ runnerSeq: 1, type: 'approval.requested', data: { mine: true } }] },
      BEFORE_APPROVALS,
    );
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    const newest = (await runEvents(app, s.run.id)).at(-1)!;
    expect(newest).toMatchObject({ type: 'run.legacy.approval.requested', data: { mine: true } });
    const old = await call<{ data: { type: string }[] }>(app, 'GET', `/api/v1/runs/${s.run.id}/events`, undefined, BEFORE_APPROVALS);
    expect(old.body.data.at(-1)).toMatchObject({ type: 'approval.requested', data: { mine: true } });
    // In the newest version the type is the server's.
    expectProblem(
      await call(s.rc, 'POST', `/api/v1/leases/${s.claim.lease.id}/events`, { fencingToken: 1, events: [{ runnerSeq: 2, type: 'approval.decided' }] }),
      422,
      'validation-error',
      'reserved',
    );
  });
});
