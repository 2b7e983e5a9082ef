import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { pino, type Logger } from 'pino';
import type { Config } from './config/config.js';
import { closeDatabase, newerMigrations, openDatabase, type Db } from './db/database.js';
import { bootstrap, type BootstrapResult } from './bootstrap.js';
import { planModelsFromEnvironment, provisionModelsFromEnvironment } from './models-from-environment.js';
import { createApp } from './http/app.js';
import { clientErrorHandler } from './http/client-error.js';
import { drainConnections } from './http/drain.js';
import { createDrain } from './util/drain.js';
import { purgeExpiredIdempotencyKeys } from './http/idempotency.js';
import { createRateLimiter } from './http/rate-limit.js';
import { inProcessBus, postgresBus, redisBus } from './realtime/bus.js';
import type { StreamRegistry } from './realtime/sse.js';
import { createSealer, localMasterKey } from './security/sealer.js';
import { startRewrapper } from './security/rewrap.js';
import { createRunRedaction } from './resources/secrets/redaction.js';
import { createLoginLimiter } from './auth/login-limiter.js';
import { installationId } from './bootstrap.js';
import { createEndUserTokens } from './auth/end-user-tokens.js';
import { createKeyCache } from './auth/key-cache.js';
import { createRunTokens } from './auth/run-token.js';
import { allHandlers } from './resources/index.js';
import { eventsByCursor, type RunEventBus, type StoredEvent } from './resources/runs/events.js';
import { sequencedBus, startEventSequencer } from './resources/runs/event-sequencer.js';
import { reap } from './resources/runs/lifecycle.js';
import { fireDueSchedules } from './resources/schedules/engine.js';
import { startDeliverer } from './resources/webhooks/delivery.js';
import { sweepExpired } from './resources/transcriptions/retention.js';
import { startTranscriber } from './resources/transcriptions/worker.js';
import { startIndexer } from './resources/knowledge/worker.js';
import { startConnectionSweeper } from './resources/connections/sweeper.js';
import { purgeOldMessages } from './resources/webhooks/store.js';
import { startAuditChainer } from './resources/audit/chainer.js';
import { pruneAuditEvents } from './resources/audit/retention.js';
import { expireThreads } from './resources/threads/expiry.js';
import { expireApprovals } from './resources/approvals/waits.js';
import { startExporter } from './exports/exporter.js';
import { expireExports } from './exports/files.js';
import { expireReservations } from './resources/budgets/enforcement.js';
import { admitWaitingRuns } from './resources/budgets/admission.js';
import { auditExportSource } from './resources/audit/exports.js';
import { costExportSource } from './resources/costs/exports.js';
import { createRefusalLimiter } from './http/pipeline/audit.js';
import { loadBundledSpec } from './spec/load-spec.js';
import { extractOperations } from './spec/operations.js';
import { compileValidators } from './spec/validators.js';
import { nowMs } from './util/time.js';
import { API_VERSIONS } from './versions/registry.js';
import { createOrganizationPins } from './versions/pins.js';
import { createVersioning } from './versions/versioning.js';
import { retiredOperations } from './versions/retired.js';
import { startTracing, stopTracing } from './observability/tracing.js';
import { startServerMetrics } from './server-metrics.js';

export type RunningServer = {
  url: string;
  db: Db;
  logger: Logger;
  bootstrap: BootstrapResult;
  bus: RunEventBus;
  /** One reaper pass now (tests drive it with a fake clock instead of waiting). */
  reapNow(): Promise<void>;
  /** One scheduler pass now. */
  fireSchedulesNow(): Promise<void>;
  /** One pass of the thread sweeper now: threads past their time to live are deleted. */
  expireThreadsNow(): Promise<void>;
  /** One pass of the approval expiry sweeper, now. */
  expireApprovalsNow(): Promise<void>;
  /** Delivers every webhook message due now, and waits for the attempts to be recorded. */
  deliverWebhooksNow(): Promise<void>;
  /** Takes every queued transcription now, and waits until each has been sent and recorded. */
  transcribeNow(): Promise<void>;
  /** Indexes every queued knowledge document now, and waits until each is indexed or failed. */
  indexDocumentsNow(): Promise<void>;
  /** Refreshes every OAuth connection whose token expires within the refresh window now, and waits until each is stored. */
  refreshConnectionsNow(): Promise<void>;
  /** Drops what has outlived its retention: expired idempotency keys, old webhook messages, expired uploads and transcription audio, old audit events and expired audit export files. */
  purgeNow(): Promise<void>;
  /** Chains every audit event committed so far. */
  chainAuditNow(): Promise<void>;
  /** One master key re-wrapping pass now. */
  rewrapNow(): Promise<void>;
  /** Writes every audit export queued now, and waits until they are written. */
  exportAuditNow(): Promise<void>;
  /** Readiness fails, long-polls and event streams end, and responses close their connections; the server still serves. */
  startDraining(): void;
  /** Starts draining, stops accepting, and waits up to `graceMs` for open connections to end (then closes them). */
  drain(graceMs: number): Promise<{ forcedConnections: number }>;
  close(): Promise<void>;
};

const PURGE_INTERVAL_MS = 10 * 60 * 1000;
/** Expired uploads and audio are deleted within this long of their expiry. */
const SWEEP_INTERVAL_MS = 60 * 1000;
/** How often each replica looks for events a writer committed but died before numbering (PostgreSQL). */
const EVENT_SWEEP_INTERVAL_MS = 1000;
/** How often each replica chains audit events nobody chained after their commit (another replica's that stopped, a failed pass). */
const AUDIT_CHAIN_INTERVAL_MS = 1000;
/** Values still sealed under a previous master key are re-wrapped this often (and at start). */
const REWRAP_INTERVAL_MS = 10 * 60 * 1000;
/** How long an authenticated key is trusted without a lookup; changes to keys end it at once. */
const KEY_CACHE_TTL_MS = 5_000;

/** Opens the database, compiles the contract, and listens. */
export async function startServer(config: Config, logger: Logger = pino({ level: config.logLevel })): Promise<RunningServer> {
  const spec = loadBundledSpec();
  const retired = retiredOperations(API_VERSIONS, spec.document);
  const published = extractOperations(spec.document);
  const operations = [...published, ...retired.operations];
  const validators = new Map([...compileValidators(spec.document, published), ...retired.validators]);
  const versioning = createVersioning(API_VERSIONS, spec.document, nowMs);

  // Checked before anything opens: a provider base URL the address policy refuses stops the start.
  const modelPlans = await planModelsFromEnvironment(config.modelProviders.fromEnvironment, config.modelProviders.policy);

  // Before the app is built: its request spans and the database's statement spans hook in where tracing is configured.
  const tracing = await startTracing();
  const db = await openDatabase(config.database);
  tracing?.instrumentDatabase(db, config.database.client === 'sqlite' ? 'sqlite' : 'postgresql');
  const ahead = await newerMigrations(db);
  if (ahead.length) logger.warn({ migrations: ahead }, 'the database was migrated by a newer release: run this one only while a rolling upgrade lasts');
  // Loaded only when configured: the client alone weighs some 20 MB of memory.
  const redis = config.redisUrl
    ? new (await import('ioredis')).Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: false })
    : undefined;
  redis?.on('error', (err) => logger.warn({ err: err.message }, 'redis error'));
  const bootstrapped = await bootstrap(db, versioning.newest, config.bootstrapKey);
  const { current, previous } = config.masterKeys;
  const masterKey = current ?? localMasterKey((config.database as { filename: string }).filename);
  const sealer = createSealer(masterKey, previous);
  // Derived from the same key as the sealer: replicas share it, so a token minted on one verifies on all.
  const runTokens = createRunTokens(masterKey, previous);
  const endUserTokens = createEndUserTokens(masterKey, previous);
  await provisionModelsFromEnvironment(db, sealer, modelPlans, logger);
  // Replicas need a shared bus: Redis when configured, else PostgreSQL's LISTEN/NOTIFY; one process needs none.
  const sharedBus: RunEventBus = redis
    ? await redisBus(redis, logger)
    : config.database.client === 'pg'
      ? await postgresBus(config.database.url, logger, (app, cursors) => eventsByCursor(db, app, cursors))
      : inProcessBus();
  // On PostgreSQL events are numbered after they commit, by the pass that publishes them.
  const sequencer = config.database.client === 'pg' ? startEventSequencer(db, sharedBus, { intervalMs: EVENT_SWEEP_INTERVAL_MS, logger }) : undefined;
  const bus = sequencer ? sequencedBus(sharedBus, sequencer) : sharedBus;

  const install = await installationId(db);
  const keyCache = createKeyCache(KEY_CACHE_TTL_MS);
  const pins = createOrganizationPins(KEY_CACHE_TTL_MS);
  // The same message names changed keys and organizations whose pinned version changed.
  bus.onKeyChanges((ids) => {
    keyCache.forget(ids);
    pins.forget(ids);
  });

  const auditChainer = startAuditChainer(db, { intervalMs: AUDIT_CHAIN_INTERVAL_MS, logger });
  const rewrapper = startRewrapper(db, sealer, logger, REWRAP_INTERVAL_MS);

  const streams: StreamRegistry = new Set();
  const drain = createDrain();
  const metrics = await startServerMetrics(config, db, streams, logger);
  const { app } = createApp({
    config,
    db,
    logger,
    rateLimiter: createRateLimiter(config.rateLimits, redis, install),
    keyCache,
    runTokens,
    endUserTokens,
    auditing: { chainer: auditChainer, refusals: createRefusalLimiter(redis, install) },
    versioning,
    pins,
    redaction: createRunRedaction(db, sealer),
    operations,
    validators,
    drain,
    metrics: metrics?.recorders.http,
    handlers: allHandlers({
      spec,
      db,
      bus,
      config,
      logger,
      streams,
      sealer,
      runTokens,
      endUserTokens,
      loginLimiter: createLoginLimiter(config, redis, install),
      auditChainer,
      versioning,
      masterKeys: rewrapper.status,
      drain,
      metrics,
    }),
  });

  const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs } = config.http;
  // Koa's callback answers its own errors: the promise it returns is not awaited by Node's server.
  const handleRequest = app.callback();
  const server: Server = createServer(
    {
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      // Node checks the two timeouts above only this often (30 s by default): a quarter of the
      // headers timeout, so a slow client is cut close to it, and at most once a second.
      connectionsCheckingInterval: Math.min(1000, Math.max(25, Math.floor(headersTimeoutMs / 4))),
    },
    (req, res) => void handleRequest(req, res),
  );
  server.on('clientError', clientErrorHandler(logger));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  /** A periodic job whose passes never overlap; `now()` runs one pass at once. */
  const periodic = (name: string, pass: () => Promise<StoredEvent[]>, intervalMs: number) => {
    let running: Promise<void> | undefined;
    const now = () =>
      (running ??= pass()
        .then((events) => bus.publish(events))
        .finally(() => {
          running = undefined;
        }));
    const timer = setInterval(() => {
      now().catch((err: unknown) => logger.warn({ err }, `${name} pass failed`));
    }, intervalMs);
    timer.unref();
    return { now, stop: async () => (clearInterval(timer), await running?.catch(() => {})) };
  };
  const reaper = periodic('reaper', () => reap(db), config.runs.reaperIntervalMs);
  const scheduler = periodic('scheduler', () => fireDueSchedules(db, config.schedules.misfireMs), config.schedules.intervalMs);

  rewrapper.start();
  const deliverer = startDeliverer(db, sealer, config.webhooks, logger, versioning, metrics?.recorders.webhooks);
  const transcriber = startTranscriber(db, sealer, config, logger);
  const indexer = startIndexer(db, sealer, config, logger);
  const connectionSweeper = startConnectionSweeper(db, sealer, config.connections, logger);
  const exporter = startExporter(db, { audit: auditExportSource(db, auditChainer), costs: costExportSource(db) }, logger);
  const threadSweeper = periodic('thread expiry', () => expireThreads(db).then(() => []), config.runs.reaperIntervalMs);
  // Waits end by expiry, and budget waits also when their budgets have room again.
  const approvalSweeper = periodic(
    'approval expiry',
    async () => [...(await expireApprovals(db)), ...(await admitWaitingRuns(db))],
    config.runs.reaperIntervalMs,
  );
  const sweeper = periodic('upload sweeper', () => sweepExpired(db).then(() => []), SWEEP_INTERVAL_MS);

  const purgeNow = async () => {
    await purgeExpiredIdempotencyKeys(db).catch((err: unknown) => logger.warn({ err }, 'idempotency purge failed'));
    await purgeOldMessages(db).catch((err: unknown) => logger.warn({ err }, 'webhook message purge failed'));
    await sweeper.now().catch((err: unknown) => logger.warn({ err }, 'upload sweep failed'));
    await pruneAuditEvents(db)
      .then((deleted) => deleted && auditChainer.nudge())
      .catch((err: unknown) => logger.warn({ err }, 'audit retention sweep failed'));
    await expireExports(db).catch((err: unknown) => logger.warn({ err }, 'file export expiry failed'));
    await expireReservations(db).catch((err: unknown) => logger.warn({ err }, 'budget reservation expiry failed'));
  };
  const purge = setInterval(() => void purgeNow(), PURGE_INTERVAL_MS);
  purge.unref();

  return {
    url: `http://${host}:${address.port}`,
    db,
    logger,
    bootstrap: bootstrapped,
    bus,
    reapNow: reaper.now,
    fireSchedulesNow: scheduler.now,
    expireThreadsNow: threadSweeper.now,
    expireApprovalsNow: approvalSweeper.now,
    deliverWebhooksNow: deliverer.drain,
    transcribeNow: transcriber.drain,
    indexDocumentsNow: indexer.drain,
    refreshConnectionsNow: connectionSweeper.drain,
    purgeNow,
    chainAuditNow: () => auditChainer.catchUp(),
    rewrapNow: rewrapper.now,
    exportAuditNow: () => exporter.drain(),
    startDraining: drain.begin,
    drain(graceMs) {
      drain.begin();
      return drainConnections(server, graceMs);
    },
    async close() {
      clearInterval(purge);
      await reaper.stop();
      await scheduler.stop();
      await deliverer.stop();
      await transcriber.stop();
      await indexer.stop();
      await connectionSweeper.stop();
      await exporter.stop();
      await sweeper.stop();
      await threadSweeper.stop();
      await approvalSweeper.stop();
      await rewrapper.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const end of [...streams]) end();
        server.closeIdleConnections();
      });
      await metrics?.close();
      await auditChainer.stop();
      await sequencer?.stop();
      await bus.close();
      redis?.disconnect();
      await closeDatabase(db);
      await stopTracing();
    },
  };
}
