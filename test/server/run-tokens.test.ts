import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allHandlers,
  authenticateRunToken,
  compileValidators,
  createApp,
  createKeyCache,
  createRateLimiter,
  createRefusalLimiter,
  createEndUserTokens,
  createRunTokens,
  createSealer,
  createRunRedaction,
  extractOperations,
  inProcessBus,
  loadBundledSpec,
  loadConfig,
  startAuditChainer,
  API_VERSIONS,
  createOrganizationPins,
  createVersioning,
  type RunningServer,
  type RunTokenIdentity,
} from '@switchboard/server';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { uniqueName } from '../support/client.js';
import {
  call,
  claim,
  claimReq,
  complete,
  expectProblem,
  heartbeat,
  label,
  newAgent,
  newRun,
  newRunner,
  runEvents,
  runnerConn,
  waitRun,
  type Conn,
  type Reply,
} from './run-helpers.js';

/**
 * Run tokens, on an in-process server with a fake clock (lease expiry and deadlines move only when
 * the test moves time). The gateway's routes live on another branch, so the gateway side is a
 * second server on the same database (a replica) whose listAgents, createAgent and listApiKeys are
 * declared `x-credential: gateway`: the real pipeline, handlers and database, over HTTP.
 */
const LEASE_MS = 30_000;
let fakeNow = Date.parse('2027-04-01T12:00:00.000Z');
const advance = (ms: number) => {
  fakeNow += ms;
};
const iso = (ms: number) => new Date(ms).toISOString();

/** Every line any of the servers logged, at every level. */
const logLines: string[] = [];
const logger = pino(
  { level: 'trace' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  }),
);

/** Every run token the tests were given, and every run they claimed: none may be stored or logged. */
const minted: string[] = [];
const claimedRuns: string[] = [];

const GATEWAY_OPERATIONS = new Set(['listAgents', 'createAgent', 'listApiKeys']);
/** What the gateway replica's listAgents handler was given, call by call. */
const seen: { auth: { kind: string; applicationId: string; keyId: string | null }; run: RunTokenIdentity | undefined }[] = [];

type Replica = { url: string; close(): Promise<void> };

/** A second server on the in-process server's database, with `masterKey` (base64) and the gateway operations above. */
async function startGatewayReplica(masterKey: string, env: Record<string, string> = {}): Promise<Replica> {
  const db = server.db;
  const key = Buffer.from(masterKey, 'base64');
  const spec = loadBundledSpec();
  const operations = extractOperations(spec.document).map((op) =>
    GATEWAY_OPERATIONS.has(op.operationId) ? { ...op, credential: 'gateway' as const, tokenInXApiKey: true } : op,
  );
  const config = loadConfig({ NODE_ENV: 'test', SWITCHBOARD_MASTER_KEY: masterKey, RATE_LIMIT_READ: '100000', RATE_LIMIT_WRITE: '100000', ...env });
  const runTokens = createRunTokens(key);
  const endUserTokens = createEndUserTokens(key);
  const auditChainer = startAuditChainer(db, { intervalMs: 1000, logger });
  const versioning = createVersioning(API_VERSIONS, spec.document, Date.now);
  const handlers = allHandlers({
    spec,
    db,
    bus: inProcessBus(),
    config,
    logger,
    streams: new Set(),
    sealer: createSealer(key),
    runTokens,
    endUserTokens,
    auditChainer,
    versioning,
    masterKeys: () => undefined,
  });
  const listAgents = handlers.listAgents;
  handlers.listAgents = async (input) => {
    seen.push({ auth: input.auth, run: input.run });
    return listAgents(input);
  };
  const { app } = createApp({
    config,
    db,
    logger,
    rateLimiter: createRateLimiter(config.rateLimits, undefined),
    keyCache: createKeyCache(0),
    redaction: createRunRedaction(db, createSealer(key)),
    runTokens,
    endUserTokens,
    auditing: { chainer: auditChainer, refusals: createRefusalLimiter(undefined) },
    versioning,
    pins: createOrganizationPins(0),
    operations,
    validators: compileValidators(spec.document, operations),
    handlers,
  });
  const handle = app.callback();
  const http = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    close: async () => {
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await auditChainer.stop();
    },
  };
}

let running: InProcessServer | undefined;
let server: RunningServer;
let admin: Conn;
let gateway: Replica;
/** A replica configured with another master key. */
let stranger: Replica;

beforeAll(async () => {
  running = await startInProcessServer({ now: () => fakeNow }, { LEASE_SECONDS: String(LEASE_MS / 1000) }, logger);
  server = running.server;
  admin = { baseUrl: running.baseUrl, key: running.adminKey };
  gateway = await startGatewayReplica(running.masterKey);
  stranger = await startGatewayReplica(Buffer.alloc(32, 9).toString('base64'));
});

afterAll(async () => {
  await gateway?.close();
  await stranger?.close();
  await running?.stop();
});

/** An agent, a runner that alone may run it, and a run of it claimed by that runner. */
async function claimedRun(limits: Record<string, number> = {}, runHeaders: Record<string, string> = {}) {
  const l = label();
  const agent = await newAgent(admin, { labels: [l], limits });
  const runner = await newRunner(admin, [l]);
  const conn = runnerConn(server.url, runner);
  const run = await newRun(admin, agent.id, {}, runHeaders);
  const c = await claim(conn, runner.id);
  minted.push(c.runToken.token);
  claimedRuns.push(run.id);
  return { agent, runner, conn, run, claim: c, token: c.runToken.token };
}

/** listAgents on the gateway replica with this credential, as `Authorization: Bearer` unless `headers` say otherwise. */
const gatewayCall = (baseUrl: string, credential: string, headers?: Record<string, string>) =>
  call({ baseUrl, key: credential, headers }, 'GET', '/api/v1/agents?pageSize=100', undefined, headers ? { Authorization: '' } : {});

const UNKNOWN_KEY_DETAIL = 'The credential is missing, unknown, revoked or expired.';
const LEASE_ENDED = "The run token's lease has ended";

/** 401 exactly as for a made-up key. */
function expectUnknownCredential(reply: Reply) {
  expectProblem(reply, 401, 'unauthorized');
  expect(reply.body.detail).toBe(UNKNOWN_KEY_DETAIL);
}

const expectLeaseEnded = (reply: Reply) => expectProblem(reply, 401, 'unauthorized', LEASE_ENDED);

describe('minting at each claim', () => {
  it('the claim carries a run token that expires at the run deadline and verifies, on any server with the master key, to its run', async () => {
    const s = await claimedRun({ timeoutSeconds: 600 }, { 'Switchboard-User': 'customer-42' });
    expect(s.claim.runToken.token).toMatch(/^sbrt_[A-Za-z0-9_-]{16,200}\.[A-Za-z0-9_-]{43}$/);
    expect(s.claim.runToken.expiresAt).toBe(iso(fakeNow + 600_000));
    expect(s.claim.agent.modelApi).toBeNull();

    const organization = (await call(admin, 'GET', '/api/v1/organization')).body as { id: string };
    const applicationId = await applicationOf(running!.adminKey);
    const identity = await authenticateRunToken(server.db, createRunTokens(Buffer.from(running!.masterKey, 'base64')), s.token);
    expect(identity).toEqual({
      runId: s.run.id,
      leaseId: s.claim.lease.id,
      fencingToken: 1,
      runnerId: s.runner.id,
      applicationId,
      organizationId: organization.id,
      agentId: s.agent.id,
      agentVersion: 1,
      endUserId: s.run.endUserId,
    });
    expect(s.run.endUserId).toMatch(/^eu_/);
  });

  it('a gateway operation takes it as Bearer, X-API-Token or x-api-key, and its handler gets the run, acting in the run application', async () => {
    const s = await claimedRun();
    const ways: (Record<string, string> | undefined)[] = [undefined, { 'X-API-Token': s.token }, { 'x-api-key': s.token }];
    for (const headers of ways) {
      seen.length = 0;
      const reply = await gatewayCall(gateway.url, s.token, headers);
      expect(reply.status, JSON.stringify(reply.body)).toBe(200);
      expect((reply.body as { data: { id: string }[] }).data.map((a) => a.id)).toContain(s.agent.id);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.run).toMatchObject({ runId: s.run.id, leaseId: s.claim.lease.id, agentId: s.agent.id, runnerId: s.runner.id });
      expect(seen[0]!.auth).toMatchObject({ kind: 'run_token', keyId: null, applicationId: seen[0]!.run!.applicationId });
    }
    // An application key works there too, also as x-api-key, and is no run.
    seen.length = 0;
    expect((await gatewayCall(gateway.url, running!.adminKey, { 'x-api-key': running!.adminKey })).status).toBe(200);
    expect(seen[0]).toMatchObject({ auth: { kind: 'application_key' }, run: undefined });
  });

  it('a run token has the write scope in its run application only: it may create, not administer, and X-App-Id cannot move it', async () => {
    const s = await claimedRun();
    const conn: Conn = { baseUrl: gateway.url, key: s.token };
    const created = await call(conn, 'POST', '/api/v1/agents', { name: uniqueName('by run'), model: 'echo' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await call(admin, 'GET', `/api/v1/agents/${(created.body as { id: string }).id}`)).status).toBe(200);
    expectProblem(await call(conn, 'GET', '/api/v1/api-keys'), 403, 'forbidden', 'a run token has "write"');

    const other = await call(admin, 'POST', '/api/v1/applications', { name: uniqueName('elsewhere') });
    expect(other.status).toBe(201);
    expectProblem(await call(conn, 'GET', '/api/v1/agents', undefined, { 'X-App-Id': (other.body as { id: string }).id }), 403, 'forbidden', 'run token');
    expect((await call(conn, 'GET', '/api/v1/agents', undefined, { 'X-App-Id': await applicationOf(running!.adminKey) })).status).toBe(200);
  });

  it('a run token spends its own rate-limit budget, not its application key nor another run token', async () => {
    const limited = await startGatewayReplica(running!.masterKey, { RATE_LIMIT_READ: '2' });
    try {
      const a = await claimedRun();
      const b = await claimedRun();
      expect((await gatewayCall(limited.url, a.token)).status).toBe(200);
      expect((await gatewayCall(limited.url, a.token)).status).toBe(200);
      const refused = await gatewayCall(limited.url, a.token);
      expectProblem(refused, 429, 'rate-limited');
      expect((await gatewayCall(limited.url, b.token)).status).toBe(200);
      expect((await gatewayCall(limited.url, running!.adminKey)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('refusals', () => {
  it('a forged, altered, truncated or foreign token is refused exactly as an unknown key', async () => {
    const s = await claimedRun();
    const [signed, mac] = s.token.split('.') as [string, string];
    const flip = (c: string) => (c === 'A' ? 'B' : 'A');
    const payload = Buffer.from(signed.slice('sbrt_'.length), 'base64url').toString();
    const [runId, leaseId, , expiresAtMs] = payload.split('.');
    const forgedPayload = `sbrt_${Buffer.from(`${runId}.${leaseId}.2.${expiresAtMs}`).toString('base64url')}.${mac}`;
    const candidates = [
      `${signed}.${mac.slice(0, 20)}${flip(mac[20]!)}${mac.slice(21)}`,
      forgedPayload,
      s.token.slice(0, -1),
      s.token.slice(0, signed.length),
      'sbrt_',
      `sbk_${mac}`,
    ];
    for (const candidate of candidates) expectUnknownCredential(await gatewayCall(gateway.url, candidate));
    // The same genuine token on a server with another master key.
    expectUnknownCredential(await gatewayCall(stranger.url, s.token));
    // And the genuine token still works.
    expect((await gatewayCall(gateway.url, s.token)).status).toBe(200);
  });

  it('dies when the run completes, and when it waits', async () => {
    const done = await claimedRun();
    expect((await complete(done.conn, done.claim.lease.id, { fencingToken: 1, status: 'succeeded', output: {} })).status).toBe(200);
    expectLeaseEnded(await gatewayCall(gateway.url, done.token));

    const waiting = await claimedRun();
    expect((await waitRun(waiting.conn, waiting.claim.lease.id, 1)).status).toBe(200);
    expectLeaseEnded(await gatewayCall(gateway.url, waiting.token));
  });

  it('dies when its lease expires, stays dead once the run is re-queued, and the next claim gets a new token', async () => {
    const s = await claimedRun({ maxAttempts: 2 });
    expect((await gatewayCall(gateway.url, s.token)).status).toBe(200);
    advance(LEASE_MS);
    // Expired even before the reaper has seen it.
    expectLeaseEnded(await gatewayCall(gateway.url, s.token));
    await server.reapNow();
    expectLeaseEnded(await gatewayCall(gateway.url, s.token));

    const again = await claim(s.conn, s.runner.id);
    minted.push(again.runToken.token);
    expect(again.run.id).toBe(s.run.id);
    expect(again.lease.fencingToken).toBe(2);
    expect(again.runToken.token).not.toBe(s.token);
    expect((await gatewayCall(gateway.url, again.runToken.token)).status).toBe(200);
    // The superseded token (older lease and fencing token) stays refused while the new one works.
    expectLeaseEnded(await gatewayCall(gateway.url, s.token));
  });

  it('dies at its own expiry, the run deadline, even while the lease is still held', async () => {
    const s = await claimedRun({ timeoutSeconds: 40 });
    expect(s.claim.runToken.expiresAt).toBe(iso(fakeNow + 40_000));
    advance(25_000);
    expect((await heartbeat(s.conn, s.claim.lease.id, 1)).status).toBe(200);
    advance(15_000);
    expectLeaseEnded(await gatewayCall(gateway.url, s.token));
    // The lease lives on (no reaper pass has timed the run out), the token does not.
    expect((await heartbeat(s.conn, s.claim.lease.id, 1)).status).toBe(200);
  });

  it('every operation not marked x-credential: gateway refuses a live run token as an unknown key, wherever it is sent', async () => {
    const s = await claimedRun();
    const asToken: Conn = { baseUrl: server.url, key: s.token };
    const madeUp = await call({ baseUrl: server.url, key: 'sbk_madeupmadeupmadeupmadeupmadeupmadeupmadeup0' }, 'GET', '/api/v1/agents');
    expectUnknownCredential(madeUp);
    for (const reply of [
      await call(asToken, 'GET', '/api/v1/agents'),
      await call({ ...asToken, key: '', headers: { 'X-API-Token': s.token } }, 'GET', '/api/v1/agents'),
      await call(asToken, 'POST', '/api/v1/runs', { agentId: s.agent.id }),
      await call(asToken, 'GET', `/api/v1/runs/${s.run.id}`),
      await claimReq(asToken, s.runner.id),
      await heartbeat(asToken, s.claim.lease.id, 1),
      await complete(asToken, s.claim.lease.id, { fencingToken: 1, status: 'succeeded', output: {} }),
      await call({ baseUrl: server.url, key: '' }, 'GET', `/api/v1/realtime/runs/${s.run.id}?token=${s.token}`),
    ]) {
      expectUnknownCredential(reply);
      expect(reply.body.detail).toBe(madeUp.body.detail);
    }
    // x-api-key is read on the gateway operations only, whatever it holds.
    expectUnknownCredential(await call({ baseUrl: server.url, key: '', headers: { 'x-api-key': running!.adminKey } }, 'GET', '/api/v1/agents'));
    // The run is untouched and its token still works where it belongs.
    expect((await call(admin, 'GET', `/api/v1/runs/${s.run.id}`)).body.status).toBe('running');
    expect((await gatewayCall(gateway.url, s.token)).status).toBe(200);
  });
});

describe('secrecy', () => {
  it('no run token appears in the logs, in run events or anywhere in the database', async () => {
    expect(minted.length).toBeGreaterThan(5);
    expect(logLines.length).toBeGreaterThan(50);
    const macs = minted.map((t) => t.split('.')[1]!);
    const everything = [
      logLines.join(''),
      JSON.stringify(await Promise.all(claimedRuns.map((id) => runEvents(admin, id)))),
      JSON.stringify(await dumpDatabase()),
    ];
    for (const text of everything) for (const mac of macs) expect(text).not.toContain(mac);
  });
});

/** The application a credential acts in, as the gateway replica's handler is told. */
async function applicationOf(credential: string): Promise<string> {
  seen.length = 0;
  expect((await gatewayCall(gateway.url, credential)).status).toBe(200);
  return seen[0]!.auth.applicationId;
}

async function dumpDatabase(): Promise<unknown[]> {
  const db = server.db;
  const tables = (
    db.client.config.client === 'pg'
      ? (await db.raw<{ rows: { name: string }[] }>('select table_name as name from information_schema.tables where table_schema = current_schema()')).rows
      : await db.raw<{ name: string }[]>("select name from sqlite_master where type = 'table'")
  ).map((t) => t.name);
  return Promise.all(tables.map((t) => db(t).select()));
}
