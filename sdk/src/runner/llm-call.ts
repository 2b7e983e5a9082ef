import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { ModelStep } from './llm-conversation.js';
import type { WireFormat } from './llm-wire.js';
import { RunFailure } from './run-handler.js';

export type ModelCall = {
  /** The gateway's base URL for the protocol; the wire format's path is appended. */
  baseUrl: string;
  runToken: string;
  /** Sent as well: the run's `traceparent`, when it has one. */
  headers?: Record<string, string>;
  body: Record<string, unknown>;
  fetch: typeof fetch;
  /** The run's signal: aborting it aborts the call. */
  signal: AbortSignal;
  /** The call fails with `model_timeout` when nothing arrives for this long (headers or stream bytes). */
  idleTimeoutMs: number;
  onText: (text: string) => void;
};

const causeOf = (err: unknown) => {
  const { message, cause } = err as { message?: string; cause?: { message?: string; code?: string } };
  return [message, cause?.code ?? cause?.message].filter(Boolean).join(': ');
};

/** The upstream's error message from a failed response (the provider's envelope, a problem, or the text itself). */
async function failure(res: Response, wire: WireFormat): Promise<RunFailure> {
  const raw = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    body = undefined;
  }
  const message = wire.errorMessage(body) ?? (body as { detail?: string } | undefined)?.detail ?? (raw.slice(0, 500) || res.statusText);
  const code = res.status === 404 ? 'model_not_found' : res.status === 408 || res.status === 504 ? 'model_timeout' : 'model_error';
  return new RunFailure(code, `The model answered HTTP ${String(res.status)}: ${message}`);
}

/**
 * One streamed model call through the gateway, authenticated with the run token: text is passed
 * to `onText` as it arrives, and the answer (text, tool calls, finish reason) is returned once the
 * stream's end marker came. A stream that stops before it, a broken one, an error status and a
 * silence longer than `idleTimeoutMs` are RunFailures; the run's signal aborts the request.
 */
export async function callModel(wire: WireFormat, call: ModelCall): Promise<ModelStep> {
  const idle = new AbortController();
  const signal = AbortSignal.any([call.signal, idle.signal]);
  let timer: NodeJS.Timeout | undefined;
  const stillAlive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(), call.idleTimeoutMs);
  };
  const failed = (err: unknown, what: string) => {
    if (call.signal.aborted) return call.signal.reason as Error;
    if (idle.signal.aborted) return new RunFailure('model_timeout', `The model sent nothing for ${String(call.idleTimeoutMs)} ms.`);
    if (err instanceof RunFailure) return err;
    return new RunFailure('model_error', `${what}: ${causeOf(err)}`);
  };

  stillAlive();
  try {
    let res: Response;
    try {
      res = await call.fetch(`${call.baseUrl}${wire.path}`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${call.runToken}`,
          'Content-Type': 'application/json',
          Accept: 'text/event-stream',
          ...wire.headers,
          ...call.headers,
        },
        body: JSON.stringify(call.body),
        signal,
      });
    } catch (err) {
      throw failed(err, 'The model could not be reached');
    }
    if (!res.ok) throw failed(await failure(res, wire), 'The model failed');
    if (!res.body || !res.headers.get('content-type')?.includes('text/event-stream')) {
      await res.body?.cancel();
      throw new RunFailure('model_error', `The model answered ${res.headers.get('content-type') ?? 'without a body'} instead of an event stream.`);
    }

    const events: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    const answer = wire.reader(call.onText);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        stillAlive();
        const { done, value } = await reader.read();
        if (done) throw new RunFailure('model_error', "The model's stream ended before its end marker: the connection was closed early.");
        parser.feed(value);
        for (let event = events.shift(); event; event = events.shift()) {
          if (answer.onEvent(event)) return answer.result();
        }
      }
    } catch (err) {
      throw failed(err, "The model's stream broke off");
    } finally {
      reader.cancel().catch(() => undefined);
    }
  } finally {
    clearTimeout(timer);
  }
}
