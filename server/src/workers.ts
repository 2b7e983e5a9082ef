import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** A worker that stops for good with this code was refused its configuration: starting another would not help. */
const CONFIG_EXIT = 78;
/** How long a stopping worker may take past its grace period before it is killed (each gives itself 10 s, see main.ts). */
const STOP_MARGIN_MS = 15_000;
/** A worker that dies is replaced after this long, so one that dies at once does not spin. */
const REPLACE_AFTER_MS = 1000;

/** The index of this worker process (0 for the first), or undefined outside a cluster. */
export const workerIndex = (): number | undefined => (cluster.isWorker ? Number(process.env.SWITCHBOARD_WORKER_INDEX ?? 0) : undefined);

/**
 * The primary of `count` server processes sharing one port (node:cluster hands each new connection
 * to one of them), each a replica as on several machines: the database and the bus are shared, so
 * whatever one process commits, streams on the others deliver. The first worker starts alone (it
 * migrates the database and creates the bootstrap key), the others once it listens. A worker that
 * dies after the start is replaced; SIGTERM or SIGINT stops them all gracefully.
 */
export function superviseWorkers(count: number, logger: Logger, shutdownGraceMs: number): void {
  const live = new Set<Worker>();
  let started = false;
  let stopping = false;
  let exitCode = 0;

  const stop = (code: number) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    if (!live.size) process.exit(exitCode);
    for (const worker of live) worker.process.kill('SIGTERM');
    setTimeout(() => {
      for (const worker of live) worker.process.kill('SIGKILL');
      process.exit(1);
    }, shutdownGraceMs + STOP_MARGIN_MS).unref();
  };

  const fork = (index: number): Worker => {
    const worker = cluster.fork({ SWITCHBOARD_WORKER_INDEX: String(index) });
    live.add(worker);
    worker.on('exit', (code, signal) => {
      live.delete(worker);
      if (stopping) {
        if (!live.size) process.exit(exitCode);
        return;
      }
      if (!started || code === CONFIG_EXIT) {
        logger.error({ worker: index, code, signal }, 'a worker failed to start; stopping');
        stop(code || 1);
        return;
      }
      logger.error({ worker: index, code, signal }, 'a worker exited; starting another');
      setTimeout(() => {
        if (!stopping) fork(index);
      }, REPLACE_AFTER_MS).unref();
    });
    return worker;
  };

  fork(0).once('listening', () => {
    const rest = Array.from({ length: count - 1 }, (_, i) => fork(i + 1));
    let waiting = rest.length;
    const listening = () => {
      if (--waiting > 0) return;
      started = true;
      logger.info({ workers: count }, 'Switchboard workers listening');
    };
    if (!waiting) listening();
    for (const worker of rest) worker.once('listening', listening);
  });
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));
}
