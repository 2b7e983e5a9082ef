import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ConnectionError, errorFor, SwitchboardError } from './errors.js';
import type { RunEvent } from './events.js';
import type { Problem, RunCustomEvent, RunStatus } from './generated/types.gen.js';

const TERMINAL: ReadonlySet<string> = new Set<RunStatus>(['succeeded', 'failed', 'cancelled', 'timed_out', 'expired']);

/** Reads a stream to its end, for what waiting for that end means (a run's final state). */
export async function drain(events: AsyncIterable<unknown>): Promise<void> {
  const iterator = events[Symbol.asyncIterator]();
  while (!(await iterator.next()).done) {
    // Each event is read and dropped.
  }
}

export const isTerminalStatus = (status: string) => TERMINAL.has(status);

/** Whether an event is the last of its run: a status event with a terminal status. */
export const isTerminalEvent = (e: RunEvent<RunCustomEvent>) => e.type === 'status' && isTerminalStatus(e.data.status as string);

export type StreamOpen = (lastEventId: string | undefined, signal: AbortSignal) => Promise<Response>;

const MAX_CONSECUTIVE_FAILURES = 5;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Reads an SSE stream of run events, reconnecting after a drop from the last event id it saw, so
 * the caller gets every event once and in order. A single-run stream ends after the run's
 * terminal event; errors other than a lost connection are thrown as SwitchboardErrors.
 */
export async function* runEventStream<Custom extends RunCustomEvent = never>(
  open: StreamOpen,
  options: { signal?: AbortSignal; after?: number; runFinished?: () => Promise<boolean> },
): AsyncGenerator<RunEvent<Custom>, void, undefined> {
  const endsWithRun = Boolean(options.runFinished);
  let lastEventId = options.after !== undefined ? String(options.after) : undefined;
  let failures = 0;
  const controller = new AbortController();
  options.signal?.addEventListener('abort', () => controller.abort(options.signal?.reason), { once: true });
  try {
    for (;;) {
      let response: Response;
      try {
        response = await open(lastEventId, controller.signal);
      } catch (err) {
        if (controller.signal.aborted) return;
        if (!(err instanceof ConnectionError) || ++failures > MAX_CONSECUTIVE_FAILURES) throw err;
        await sleep(250 * 2 ** failures);
        continue;
      }
      if (!response.ok) {
        const problem = (await response.json().catch(() => undefined)) as Problem | undefined;
        throw errorFor(response.status, problem, response.headers);
      }
      // 204: the run has ended and everything up to its last event was delivered.
      if (response.status === 204) return;
      failures = 0;
      let delivered = 0;
      let dropped = false;
      const queue: EventSourceMessage[] = [];
      const parser = createParser({ onEvent: (message) => queue.push(message) });
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.feed(value);
          while (queue.length) {
            const message = queue.shift()!;
            // Each message's data is one event of the spec's RunStreamEvent.
            const event = JSON.parse(message.data) as RunEvent<Custom>;
            if (message.id) lastEventId = message.id;
            delivered++;
            yield event;
            if (endsWithRun && isTerminalEvent(event)) return;
          }
        }
      } catch (err) {
        if (controller.signal.aborted) return;
        if (err instanceof SwitchboardError) throw err;
        // The connection dropped mid-stream: resume after the last event delivered.
        dropped = true;
      } finally {
        reader.releaseLock();
      }
      if (controller.signal.aborted) return;
      // A clean end that brought nothing, for a run that has ended: everything was delivered. After a
      // drop, or an end that did bring events, reconnect: what was missed is replayed from the last id.
      if (!dropped && delivered === 0 && options.runFinished && (await options.runFinished())) return;
      // Ended without the run's end (a server restart, a proxy timeout): reconnect and resume.
      if (++failures > MAX_CONSECUTIVE_FAILURES) throw new ConnectionError(0, undefined, new Headers(), 'The event stream keeps closing.');
      await sleep(Math.min(250 * 2 ** failures, 4000));
    }
  } finally {
    controller.abort();
  }
}
