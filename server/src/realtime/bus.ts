import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Logger } from 'pino';

/**
 * What the bus carries and streams send: an event of one application (the fan-out is per
 * application) with its number in the application's order, `cursor` (an event too large for a
 * PostgreSQL notification is sent as that number and read back). Its `type` names the SSE event;
 * the whole `event` is the message's data.
 */
export type LiveEvent = { applicationId: string; event: { type: string; cursor: number } };

export type BusListener<E extends LiveEvent> = (events: E[]) => void;

/**
 * Live fan-out of committed events to every server process. Delivery is best effort and in no
 * guaranteed order: streams number what they send and fill any gap from the database.
 */
export type EventBus<E extends LiveEvent = LiveEvent> = {
  publish(events: E[]): Promise<void>;
  /** Listens to one application's events; returns the unsubscribe function. */
  subscribe(applicationId: string, listener: BusListener<E>): () => void;
  /**
   * Tells every process (this one included) that these API keys, or these organizations' pinned
   * versions, changed, so none keeps trusting a cached copy.
   */
  publishKeyChanges(keyIds: string[]): Promise<void>;
  onKeyChanges(listener: (keyIds: string[]) => void): void;
  close(): Promise<void>;
};

/** Not an application id (those are TypeIDs), so it never collides with one. */
const KEY_CHANGES = 'key-changes';

/** Local listeners by application, shared by every transport. */
class Listeners<E extends LiveEvent> {
  private readonly emitter = new EventEmitter();
  constructor() {
    this.emitter.setMaxListeners(0);
  }
  subscribe(applicationId: string, listener: BusListener<E>) {
    this.emitter.on(applicationId, listener);
    return () => void this.emitter.off(applicationId, listener);
  }
  onKeyChanges(listener: (keyIds: string[]) => void) {
    this.emitter.on(KEY_CHANGES, listener);
  }
  deliverKeyChanges(keyIds: string[]) {
    this.emitter.emit(KEY_CHANGES, keyIds);
  }
  deliver(events: E[]) {
    const byApp = new Map<string, E[]>();
    for (const e of events) {
      const list = byApp.get(e.applicationId);
      if (list) list.push(e);
      else byApp.set(e.applicationId, [e]);
    }
    for (const [app, list] of byApp) this.emitter.emit(app, list);
  }
}

/** One process: the embedded default. */
export function inProcessBus<E extends LiveEvent>(): EventBus<E> {
  const listeners = new Listeners<E>();
  return {
    publish: async (events) => listeners.deliver(events),
    subscribe: (app, listener) => listeners.subscribe(app, listener),
    publishKeyChanges: async (keyIds) => listeners.deliverKeyChanges(keyIds),
    onKeyChanges: (listener) => listeners.onKeyChanges(listener),
    close: async () => {},
  };
}

const REDIS_CHANNEL = 'switchboard:run-events';
const REDIS_KEYS_CHANNEL = 'switchboard:key-changes';

/** Replicas sharing Redis: one channel, one subscriber connection per process. */
export async function redisBus<E extends LiveEvent>(publisher: Redis, logger: Logger): Promise<EventBus<E>> {
  const listeners = new Listeners<E>();
  // Its own connection (a subscribed connection can do nothing else), which reconnects and
  // resubscribes by itself; the first connect must succeed, so a wrong REDIS_URL fails the start.
  const subscriber = publisher.duplicate({ lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: null });
  subscriber.on('error', (err) => logger.warn({ err: err.message }, 'redis subscriber error'));
  await subscriber.connect();
  subscriber.on('message', (channel: string, message: string) => {
    try {
      if (channel === REDIS_KEYS_CHANNEL) listeners.deliverKeyChanges(JSON.parse(message) as string[]);
      else listeners.deliver(JSON.parse(message) as E[]);
    } catch (err) {
      logger.warn({ err }, 'unreadable bus message');
    }
  });
  await subscriber.subscribe(REDIS_CHANNEL, REDIS_KEYS_CHANNEL);
  return {
    publish: async (events) => {
      if (events.length) await publisher.publish(REDIS_CHANNEL, JSON.stringify(events));
    },
    subscribe: (app, listener) => listeners.subscribe(app, listener),
    publishKeyChanges: async (keyIds) => {
      // Locally at once: this process must not wait for the round trip through Redis.
      listeners.deliverKeyChanges(keyIds);
      if (keyIds.length) await publisher.publish(REDIS_KEYS_CHANNEL, JSON.stringify(keyIds));
    },
    onKeyChanges: (listener) => listeners.onKeyChanges(listener),
    close: async () => {
      subscriber.disconnect();
    },
  };
}

const PG_CHANNEL = 'switchboard_run_events';
/** NOTIFY payloads must stay under 8000 bytes (UTF-8); larger batches are split, single large events sent as a pointer. */
const PG_PAYLOAD_LIMIT = 7500;

type PgMessage<E> = { events: E[] } | { pointer: { applicationId: string; cursors: number[] } } | { keys: string[] };

/** Replicas sharing PostgreSQL without Redis: LISTEN/NOTIFY on a dedicated connection. */
export async function postgresBus<E extends LiveEvent>(
  url: string,
  logger: Logger,
  loadByCursor: (applicationId: string, cursors: number[]) => Promise<E[]>,
): Promise<EventBus<E>> {
  const listeners = new Listeners<E>();
  // Loaded only where PostgreSQL is used: the embedded default should not carry it.
  const { Pool, Client } = (await import('pg')).default;
  const notifier = new Pool({ connectionString: url, max: 2 });
  // An idle pooled connection that the database drops must not crash the process.
  notifier.on('error', (err) => logger.warn({ err: err.message }, 'postgres notifier error'));
  let closing = false;
  let listener: pg.Client | undefined;

  /** A dedicated LISTEN connection, replaced with backoff when it drops (streams catch up from the database). */
  const listen = async (): Promise<void> => {
    const client = new Client({ connectionString: url });
    client.on('notification', (msg) => {
      if (msg.channel !== PG_CHANNEL || !msg.payload) return;
      const parsed = JSON.parse(msg.payload) as PgMessage<E>;
      if ('events' in parsed) listeners.deliver(parsed.events);
      else if ('keys' in parsed) listeners.deliverKeyChanges(parsed.keys);
      else
        loadByCursor(parsed.pointer.applicationId, parsed.pointer.cursors)
          .then((events) => listeners.deliver(events))
          .catch((err: unknown) => logger.warn({ err }, 'loading notified events failed'));
    });
    let lost = false;
    const reconnect = (err?: Error) => {
      if (lost || closing) return;
      lost = true;
      logger.warn({ err: err?.message }, 'postgres listener lost; reconnecting');
      client.end().catch(() => {});
      const retry = (delay: number) =>
        setTimeout(() => {
          if (!closing) listen().catch(() => retry(Math.min(delay * 2, 10_000)));
        }, delay).unref();
      retry(250);
    };
    client.on('error', reconnect);
    client.on('end', () => reconnect());
    try {
      await client.connect();
      await client.query(`LISTEN ${PG_CHANNEL}`);
    } catch (err) {
      // The caller retries; this client's own handlers must not start a second chain.
      lost = true;
      client.end().catch(() => {});
      throw err;
    }
    listener = client;
  };
  await listen();

  const payloads = (events: E[]): string[] => {
    const out: string[] = [];
    let batch: string[] = [];
    let size = 0;
    const flush = () => {
      if (batch.length) out.push(`{"events":[${batch.join(',')}]}`);
      batch = [];
      size = 0;
    };
    for (const e of events) {
      const json = JSON.stringify(e);
      const bytes = Buffer.byteLength(json);
      if (bytes + 20 > PG_PAYLOAD_LIMIT) {
        flush();
        out.push(JSON.stringify({ pointer: { applicationId: e.applicationId, cursors: [e.event.cursor] } }));
        continue;
      }
      if (size + bytes + 20 > PG_PAYLOAD_LIMIT) flush();
      batch.push(json);
      size += bytes + 1;
    }
    flush();
    return out;
  };

  return {
    publish: async (events) => {
      for (const payload of payloads(events)) await notifier.query('SELECT pg_notify($1, $2)', [PG_CHANNEL, payload]);
    },
    subscribe: (app, fn) => listeners.subscribe(app, fn),
    publishKeyChanges: async (keyIds) => {
      listeners.deliverKeyChanges(keyIds);
      // Key ids are short: a few hundred fit in one notification.
      for (let i = 0; i < keyIds.length; i += 100) {
        await notifier.query('SELECT pg_notify($1, $2)', [PG_CHANNEL, JSON.stringify({ keys: keyIds.slice(i, i + 100) })]);
      }
    },
    onKeyChanges: (listener) => listeners.onKeyChanges(listener),
    close: async () => {
      closing = true;
      await listener?.end().catch(() => {});
      await notifier.end().catch(() => {});
    },
  };
}
