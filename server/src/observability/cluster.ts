import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const REQUEST = 'switchboard:metrics-request';
const REPLY = 'switchboard:metrics-reply';
/** prom-client's primary gives up on a worker after 5 s: a worker waits a little longer for the primary's answer. */
const REPLY_TIMEOUT_MS = 6000;

type Reply = { type: typeof REPLY; id: number; text?: string; error?: string };

/**
 * In a cluster worker: `registry` is what this worker contributes when the primary aggregates
 * (prom-client answers the primary's requests once an AggregatorRegistry exists in the process).
 */
export function joinAggregation(registry: Registry): void {
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
}

/**
 * In a cluster worker: the whole cluster's metrics, asked of the primary, which asks every worker.
 * A scrape reaches one worker at random; answering with that worker's numbers alone would make
 * counters jump between scrapes.
 */
export function clusterMetricsFromPrimary(): () => Promise<string> {
  let next = 0;
  const waiting = new Map<number, (reply: Reply) => void>();
  // Every IPC message arrives here, prom-client's own included.
  process.on('message', (message: { type?: unknown; id?: number }) => {
    if (message.type === REPLY && message.id !== undefined) waiting.get(message.id)?.(message as Reply);
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('The cluster primary did not answer with the metrics in time.'));
      }, REPLY_TIMEOUT_MS);
      waiting.set(id, (reply) => {
        clearTimeout(timer);
        waiting.delete(id);
        if (reply.text === undefined) reject(new Error(`Aggregating the workers' metrics failed: ${reply.error ?? 'no answer'}`));
        else resolve(reply.text);
      });
      process.send!({ type: REQUEST, id });
    });
}

/** In the cluster primary: the workers' metrics, aggregated; and the same for a worker that asks (its scrape on the API's port). */
export function aggregateWorkers(): () => Promise<string> {
  const aggregator = new AggregatorRegistry();
  const aggregate = () => aggregator.clusterMetrics();
  cluster.on('message', (worker, message: { type?: string; id?: number }) => {
    if (message.type !== REQUEST) return;
    const answer = (reply: Omit<Reply, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: REPLY, id: message.id, ...reply });
    };
    aggregate().then(
      (text) => answer({ text }),
      (err: unknown) => answer({ error: (err as Error).message }),
    );
  });
  return aggregate;
}
