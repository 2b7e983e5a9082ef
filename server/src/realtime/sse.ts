import { PassThrough } from 'node:stream';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { EventBus, LiveEvent } from './bus.js';

/**
 * Where a stream is and how to catch up. `track` numbers the events the stream must see without a
 * gap (a run's seq, or the application's cursor); `position` is the id sent to the client.
 */
export type StreamSource<E extends LiveEvent> = {
  applicationId: string;
  /** Events for this stream among the application's (the run's, the agent's, all). */
  accepts(e: E): boolean;
  /** The contiguous counter the bus is checked against: every value is one event, none is skipped. */
  track(e: E): number | undefined;
  /** The id: header of a message; only grows within the stream. */
  position(e: E): number;
  /** Stored events with track in (after, upTo], in order, at most `limit`. */
  load(after: number, upTo: number | undefined, limit: number): Promise<E[]>;
  /** The highest committed track value now (everything up to it can be loaded). */
  head(): Promise<number>;
  /** The stream ends after this event (a single-run stream after the terminal status). */
  endsAfter?(e: E): boolean;
  /** Whether there will be no more events (a finished run), checked after the replay. */
  finished?(): Promise<boolean>;
};

const PAGE = 500;
/** A client this far behind (bytes buffered for it) is cut off; it resumes from its last id when it reconnects. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/**
 * One event's SSE frame, encoded once and shared by every stream that sends it at that position
 * (a live event reaches all subscribers as the same object): with thousands of subscribers,
 * serialising per stream was most of the work.
 */
const frames = new WeakMap<LiveEvent['event'], Map<number, Buffer>>();
function frameOf(e: LiveEvent, position: number): Buffer {
  let byPosition = frames.get(e.event);
  if (!byPosition) frames.set(e.event, (byPosition = new Map<number, Buffer>()));
  let frame = byPosition.get(position);
  if (!frame) byPosition.set(position, (frame = Buffer.from(`id: ${position}\nevent: ${e.event.type}\ndata: ${JSON.stringify(e.event)}\n\n`)));
  return frame;
}

function renderedFrame(type: string, event: object, position: number): Buffer {
  return Buffer.from(`id: ${position}\nevent: ${(event as { type?: string }).type ?? type}\ndata: ${JSON.stringify(event)}\n\n`);
}

/**
 * What a stream sends last when its server stops: reconnect soon (the `retry:` field, in ms, for
 * EventSource clients) from the last id, through the balancer to another replica. A comment, not an
 * event, so no client mistakes it for a run event.
 */
const RECONNECT = 'retry: 500\n: server stopping, reconnect with Last-Event-ID\n\n';

/** The open streams, so a shutdown can end them instead of waiting for clients to leave. */
export type StreamRegistry = Set<() => void>;

/** What an event stream's response says besides its body: never cached or transformed, never buffered by a proxy. */
export const EVENT_STREAM = {
  contentType: 'text/event-stream; charset=utf-8',
  headers: { 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no', Connection: 'keep-alive' },
};

/** Opens an SSE response: history after `after` from the database, then live from the bus, with no gap and no duplicate. */
export function openEventStream<E extends LiveEvent>(
  ctx: Context,
  bus: EventBus<E>,
  source: StreamSource<E>,
  after: number,
  options: { pingMs: number; logger: Logger; registry: StreamRegistry; render?: (event: E['event']) => object; stopping?: AbortSignal },
): PassThrough {
  const { pingMs, logger, registry, render, stopping } = options;
  const out = new PassThrough();
  let tracked = after;
  let sent = after;
  let closed = false;
  let pending: E[] = [];
  let chain = Promise.resolve();

  // Frames are gathered and written once per batch: one write per client per batch, not per event.
  let outgoing: Buffer[] = [];
  const writeOutgoing = () => {
    if (outgoing.length) out.write(outgoing.length === 1 ? outgoing[0] : Buffer.concat(outgoing));
    outgoing = [];
  };
  const flush = () => {
    if (closed) return;
    writeOutgoing();
    if (out.writableLength > MAX_BUFFERED_BYTES) close();
  };

  const write = (e: E) => {
    if (closed) return;
    const position = source.position(e);
    if (source.accepts(e) && position > sent) {
      // An event rendered for an older API version is this stream's own: its frame is not shared.
      outgoing.push(render ? renderedFrame(e.event.type, render(e.event), position) : frameOf(e, position));
      sent = position;
      if (source.endsAfter?.(e)) close();
    }
  };

  /** Waits until the client has taken what was written: history is read no faster than it is sent. */
  const drained = () =>
    out.writableNeedDrain && !closed
      ? new Promise<void>((resolve) => {
          out.once('drain', resolve);
          out.once('close', resolve);
        })
      : Promise.resolve();

  const catchUp = async (upTo: number | undefined) => {
    for (;;) {
      const page = await source.load(tracked, upTo, PAGE);
      for (const e of page) {
        write(e);
        tracked = Math.max(tracked, source.track(e) ?? tracked);
      }
      flush();
      if (page.length < PAGE || closed) return;
      await drained();
    }
  };

  /** Compares with the database: a bus message that never came (a failed publish) is read from there. */
  const recheck = async () => {
    const head = await source.head();
    if (head > tracked) await catchUp(head);
    tracked = Math.max(tracked, head);
    if (await source.finished?.()) {
      await catchUp(undefined);
      close();
    }
  };

  const pump = async () => {
    const batch = pending.sort((a, b) => (source.track(a) ?? 0) - (source.track(b) ?? 0));
    pending = [];
    for (const e of batch) {
      if (closed) return;
      const t = source.track(e);
      if (t === undefined || t <= tracked) continue;
      if (t > tracked + 1) {
        // Whatever was numbered below t committed before t did (numbers commit in order: docs/architecture.md, "The event log").
        await catchUp(t - 1);
        tracked = Math.max(tracked, t - 1);
      }
      if (t <= tracked) continue;
      write(e);
      tracked = t;
    }
    flush();
  };

  const schedule = (task: () => Promise<void>) => {
    chain = chain.then(task).catch((err: unknown) => {
      logger.warn({ err }, 'event stream failed');
      close();
    });
  };

  // Subscribe first, then replay: whatever commits meanwhile is either replayed or buffered.
  const unsubscribe = bus.subscribe(source.applicationId, (events) => {
    pending.push(...events.filter((e) => source.track(e) !== undefined));
    schedule(pump);
  });
  const ping = setInterval(() => {
    if (closed) return;
    out.write(': ping\n\n');
    schedule(recheck);
  }, pingMs);

  function close() {
    if (closed) return;
    closed = true;
    writeOutgoing();
    clearInterval(ping);
    unsubscribe();
    registry.delete(close);
    stopping?.removeEventListener('abort', reconnect);
    out.end();
  }
  /** Ends the stream after what is already queued for it has been sent. */
  function reconnect() {
    schedule(async () => {
      if (closed) return;
      outgoing.push(Buffer.from(RECONNECT));
      close();
    });
  }
  registry.add(close);
  ctx.req.on('close', close);

  out.write('retry: 2000\n\n');
  // The first check replays history; a client resuming after the last event of a finished run gets nothing more and the stream ends.
  schedule(recheck);
  // A stream opened on a stopping server still replays what the client missed, then sends it on.
  if (stopping?.aborted) reconnect();
  else stopping?.addEventListener('abort', reconnect, { once: true });
  return out;
}

/** `Last-Event-ID` wins over `?after=`; both are non-negative integers (validated by the spec). */
export const resumePoint = (lastEventId: string | undefined, after: number | undefined) => (lastEventId ? Number(lastEventId) : (after ?? 0));
