import type { RunContext } from './run-handler.js';

/** Control characters a text output delta may not carry (the spec's pattern); tab, line feed and carriage return may. */
// eslint-disable-next-line no-control-regex -- these are the characters refused
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;

export type DeltaBatcher = {
  /** Adds text; it is sent within `intervalMs`, or at once when `maxChars` are waiting. */
  push(text: string): void;
  /** Sends what is waiting and resolves when every delta so far is stored (rejects if one could not be). */
  flush(): Promise<void>;
};

/**
 * Batches streamed text into `output.delta` events (`{ text }`), in order, so a run makes one
 * event per `intervalMs` or per `maxChars`, not one per token.
 */
export function deltaBatcher(emit: RunContext['emit'], intervalMs = 50, maxChars = 200): DeltaBatcher {
  let waiting = '';
  let timer: NodeJS.Timeout | undefined;
  let sent: Promise<void> = Promise.resolve();
  const send = () => {
    clearTimeout(timer);
    timer = undefined;
    if (!waiting) return;
    const text = waiting.replace(CONTROL, '\uFFFD');
    waiting = '';
    sent = sent.then(() => emit('output.delta', { text }));
    // A failure is reported by the next flush; this only keeps it from being unhandled meanwhile.
    sent.catch(() => undefined);
  };
  return {
    push(text) {
      waiting += text;
      if (waiting.length >= maxChars) send();
      else timer ??= setTimeout(send, intervalMs);
    },
    flush() {
      send();
      return sent;
    },
  };
}

const MAX_STRING = 100_000;
const MAX_ITEMS = 1000;
const MAX_NAME = 256;

/** Whether a value fits the spec's JsonValue7 (7 levels of nesting below it; strings, arrays and objects bounded). */
function fits(value: unknown, levels: number): boolean {
  if (typeof value === 'string') return value.length <= MAX_STRING;
  if (value === null || typeof value !== 'object') return true;
  if (levels === 0) return false;
  const entries = Array.isArray(value) ? value.map((v: unknown) => ['', v] as const) : Object.entries(value);
  return entries.length <= MAX_ITEMS && entries.every(([name, v]) => name.length <= MAX_NAME && fits(v, levels - 1));
}

/** Whether a value fits the spec's JsonObject (a thread's tool call arguments): 100 members, each a JsonValue7. */
export function fitsJsonObject(value: Record<string, unknown>): boolean {
  const entries = Object.entries(value);
  return entries.length <= 100 && entries.every(([name, v]) => name.length <= MAX_NAME && fits(v, 7));
}

/** Text a thread message part may hold: no NUL, at most 100,000 characters (longer text is cut, and says so). */
export function partText(text: string): string {
  const clean = text.replaceAll('\u0000', '\uFFFD');
  if (clean.length <= MAX_STRING) return clean;
  const marker = `\n[cut: ${String(clean.length)} characters in all]`;
  return clean.slice(0, MAX_STRING - marker.length) + marker;
}

/**
 * A value for an event's data: itself when the server will store it, else its JSON cut to the
 * longest string an event may carry, marked `truncated` (the model still gets all of it).
 */
export function eventValue(name: string, value: unknown): Record<string, unknown> {
  if (fits(value, 7)) return { [name]: value };
  return { [name]: JSON.stringify(value).slice(0, MAX_STRING), truncated: true };
}
