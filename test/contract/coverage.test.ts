import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import {
  allHandlers,
  compileValidators,
  createApp,
  createKeyCache,
  createEndUserTokens,
  createRunTokens,
  createRefusalLimiter,
  createSealer,
  createRunRedaction,
  extractOperations,
  inProcessBus,
  loadBundledSpec,
  loadConfig,
  openDatabase,
  startAuditChainer,
  API_VERSIONS,
  createOrganizationPins,
  createVersioning,
  retiredOperations,
  type AuditChainer,
} from '@switchboard/server';

const spec = loadBundledSpec();
const operations = extractOperations(spec.document);
/** The operations a version removed, still served to the versions before it. */
const retired = retiredOperations(API_VERSIONS, spec.document).operations;
let db: Awaited<ReturnType<typeof openDatabase>>;
const config = loadConfig({ NODE_ENV: 'test' });
const logger = pino({ level: 'silent' });
const versioning = createVersioning(API_VERSIONS, spec.document, Date.now);
const runTokens = createRunTokens(randomBytes(32));
const endUserTokens = createEndUserTokens(randomBytes(32));
let auditChainer: AuditChainer;
const handlers = () =>
  allHandlers({
    spec,
    db,
    bus: inProcessBus(),
    config,
    logger,
    streams: new Set(),
    sealer: createSealer(randomBytes(32)),
    runTokens,
    endUserTokens,
    auditChainer,
    versioning,
    masterKeys: () => undefined,
  });

beforeAll(async () => {
  db = await openDatabase({ client: 'sqlite', filename: ':memory:' });
  auditChainer = startAuditChainer(db, { intervalMs: 60_000, logger });
});
afterAll(async () => {
  await auditChainer.stop();
  await db.destroy();
});

describe('the server implements exactly the spec', () => {
  it('has a handler for every operationId and none beyond them', () => {
    expect(Object.keys(handlers()).sort()).toEqual([...operations, ...retired].map((o) => o.operationId).sort());
  });

  it('registers one route per operation and no route outside the spec', () => {
    const { routes } = createApp({
      config,
      db,
      logger,
      rateLimiter: { consume: async () => ({ allowed: true, headers: {}, retryAfterSeconds: 0 }) },
      keyCache: createKeyCache(0),
      redaction: createRunRedaction(db, createSealer(randomBytes(32))),
      runTokens,
      endUserTokens,
      auditing: { chainer: auditChainer, refusals: createRefusalLimiter(undefined) },
      versioning,
      pins: createOrganizationPins(0),
      operations,
      validators: compileValidators(spec.document, operations),
      handlers: handlers(),
    });
    const registered = routes.map((r) => `${r.method} ${r.path} ${r.operationId}`).sort();
    const expected = operations.map((o) => `${o.method.toUpperCase()} ${o.routerPath} ${o.operationId}`).sort();
    expect(registered).toEqual(expected);
  });

  it('gives every operation a unique operationId, a tag, a summary and a description', () => {
    const ids = operations.map((o) => o.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    // The published document: the server's own copy leaves the prose out.
    const published = JSON.parse(readFileSync(spec.files.json, 'utf8')) as typeof spec.document;
    for (const op of operations) {
      const raw = published.paths[op.path]![op.method] as { tags?: string[]; summary?: string; description?: string };
      expect(raw.tags?.length, op.operationId).toBeGreaterThan(0);
      expect(raw.summary, op.operationId).toBeTruthy();
      expect(raw.description, op.operationId).toBeTruthy();
    }
  });

  it('names the audit action of every operation that changes anything, from the closed list, and no read has one', () => {
    const actions = (spec.document.components as { schemas: Record<string, { enum: string[] }> }).schemas.AuditAction!.enum;
    // The links a person's browser follows (a connect link, a provider's redirect back) change things through a GET, as browsers must: they are audited.
    const browserLinks = ['openConnectLink', 'completeOAuthConnection'];
    for (const op of operations) {
      if (op.method === 'get' && !browserLinks.includes(op.operationId)) expect(op.auditAction, op.operationId).toBeUndefined();
      else expect(actions, op.operationId).toContain(op.auditAction);
    }
    // Every action but the sweeper's own is some operation's (those a version removed too).
    const used = new Set([...operations, ...retired].map((o) => o.auditAction));
    expect(actions.filter((a) => !used.has(a))).toEqual(['audit.pruned']);
  });

  it('declares a rate-limit category on every secured operation', () => {
    for (const op of operations.filter((o) => o.secured)) expect(op.rateCategory, op.operationId).toMatch(/^(read|write|run|costly|llm)$/);
  });
});
