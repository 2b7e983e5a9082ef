import cluster from 'node:cluster';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { Config } from './config/config.js';
import type { Db } from './db/database.js';
import { poolStats } from './db/knex-internals.js';
import { aggregateWorkers, clusterMetricsFromPrimary, joinAggregation } from './observability/cluster.js';
import type { MetricsExposition } from './observability/exposition.js';
import { startMetricsListener } from './observability/listener.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import type { StreamRegistry } from './realtime/sse.js';
import { activeRunCounts } from './resources/runs/store.js';

export type ServerMetrics = { recorders: Metrics; exposition: MetricsExposition; close(): Promise<void> };

/** Whether metrics are collected at all: only when they are served somewhere. */
export const metricsOn = (config: Config['metrics']) => config.token !== undefined || config.listen !== undefined;

/**
 * This process's metrics, when METRICS_TOKEN or METRICS_PORT is set. Alone, it serves its own
 * (and opens METRICS_PORT itself); as a cluster worker it contributes them to the primary, which
 * serves METRICS_PORT, and its `GET /metrics` answers with the whole cluster's, asked of the primary.
 */
export async function startServerMetrics(config: Config, db: Db, streams: StreamRegistry, logger: Logger): Promise<ServerMetrics | undefined> {
  if (!metricsOn(config.metrics)) return undefined;
  const registry = new Registry();
  const recorders = createMetrics(registry, { activeRuns: () => activeRunCounts(db), pool: () => poolStats(db), sseConnections: () => streams.size });
  if (cluster.isWorker) joinAggregation(registry);
  const render = cluster.isWorker ? clusterMetricsFromPrimary() : () => registry.metrics();
  const listener: Server | undefined =
    config.metrics.listen && !cluster.isWorker ? await startMetricsListener(config.metrics.listen, render, logger) : undefined;
  return {
    recorders,
    exposition: { token: config.metrics.token, render },
    close: () => new Promise<void>((resolve) => (listener ? listener.close(() => resolve()) : resolve())),
  };
}

/** In the cluster primary: METRICS_PORT with every worker's metrics aggregated, and the aggregate for workers that are asked on the API's port. */
export async function servePrimaryMetrics(config: Config['metrics'], logger: Logger): Promise<void> {
  if (!metricsOn(config)) return;
  const aggregate = aggregateWorkers();
  if (config.listen) await startMetricsListener(config.listen, aggregate, logger);
}
