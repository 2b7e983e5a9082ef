import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import type { ErrorFields } from '../../problems/provider-envelopes.js';
import { MalformedStream, type Protocol, type StreamReader, type Usage } from './protocol.js';
import { sseSplitter } from './sse.js';
import { UpstreamFailure, type Exchange } from './upstream.js';

/**
 * How a relayed stream ended: `failed` (the provider stalled, sent something unreadable or an
 * error), `aborted` (the caller or the provider went away); `firstEventAt` is when its first event
 * went to the caller (`performance.now()`).
 */
export type StreamEnd = { outcome: 'succeeded' | 'failed' | 'aborted'; errorCode: string | null; usage: Usage | undefined; firstEventAt: number };

export type Relay = {
  /** The stream the caller is sent. */
  out: PassThrough;
  /** Resolves once the first event went through (the answer is committed to); rejects with the failure when the stream breaks before. */
  started: Promise<void>;
};

/** What each failure makes of a stream that has begun, as recorded. */
const ENDINGS: Record<UpstreamFailure['kind'], { outcome: StreamEnd['outcome']; errorCode: string }> = {
  client: { outcome: 'aborted', errorCode: 'client_closed' },
  unreachable: { outcome: 'aborted', errorCode: 'upstream_cut' },
  address: { outcome: 'failed', errorCode: 'upstream_address_refused' },
  timeout: { outcome: 'failed', errorCode: 'upstream_timeout' },
  malformed: { outcome: 'failed', errorCode: 'upstream_malformed' },
};

/** The error event a caller is sent when the provider's stream breaks off. */
function breakOff(protocol: Protocol, failure: UpstreamFailure): ErrorFields {
  const timeout = failure.kind === 'timeout';
  const type = protocol.format === 'anthropic' ? (timeout ? 'timeout_error' : 'api_error') : 'server_error';
  return { message: `The provider's stream broke off: ${failure.message}.`, type, code: timeout ? 'upstream_timeout' : 'upstream_error', param: null };
}

/**
 * Passes a provider's event stream to the caller event by event, each as it comes, through the
 * protocol's reader (which reads the usage and may drop or change an event). Before the first
 * event nothing is sent, so a stream that breaks then is the attempt's failure (retried or failed
 * over); after it, a failure ends the caller's stream with the protocol's error event. `onEnd`
 * runs once, when the stream ends whichever way, and the caller's stream is ended after it.
 */
export function relay(exchange: Exchange, res: IncomingMessage, reader: StreamReader, protocol: Protocol, onEnd: (end: StreamEnd) => Promise<void>): Relay {
  const out = new PassThrough();
  // Writes after the caller went away (Koa destroys the stream then) are dropped, not thrown.
  out.on('error', () => undefined);
  let begun = false;
  let firstEventAt = 0;
  let ended = false;
  let begin!: () => void;
  let refuse!: (failure: UpstreamFailure) => void;
  const started = new Promise<void>((resolve, reject) => ((begin = resolve), (refuse = reject)));
  started.catch(() => undefined);

  const end = (outcome: StreamEnd['outcome'], errorCode: string | null, error?: ErrorFields) => {
    if (ended) return;
    ended = true;
    exchange.pause();
    // Recorded before the caller hears of the end: whoever reads the stream to its end finds the call recorded.
    const close = () => {
      if (error) out.write(protocol.errorEvent(error));
      out.end();
    };
    void onEnd({ outcome, errorCode, usage: reader.usage(), firstEventAt }).then(close, close);
  };

  const fail = (failure: UpstreamFailure) => {
    exchange.fail(failure);
    if (!begun) {
      ended = true;
      refuse(failure);
      return;
    }
    const { outcome, errorCode } = ENDINGS[failure.kind];
    // Nobody reads an error event sent to a caller that went away.
    end(outcome, errorCode, failure.kind === 'client' ? undefined : breakOff(protocol, failure));
  };

  const splitter = sseSplitter((event) => {
    if (ended) return;
    let text: string | null;
    try {
      text = reader.pass(event);
    } catch (err) {
      fail(new UpstreamFailure('malformed', err instanceof MalformedStream ? err.message : 'the provider sent an event the gateway could not read'));
      return;
    }
    if (text !== null && !out.write(text)) {
      // The caller reads slower than the provider writes: the provider waits, and its timer with it.
      res.pause();
      exchange.pause();
    }
    if (!begun) {
      begun = true;
      firstEventAt = performance.now();
      begin();
    }
  });
  out.on('drain', () => {
    if (ended) return;
    exchange.resume();
    res.resume();
  });

  res.on('data', (chunk: Buffer) => {
    exchange.alive();
    splitter.push(chunk);
  });
  res.on('end', () => {
    splitter.end();
    if (!begun) return fail(new UpstreamFailure('malformed', 'the provider ended its stream without sending an event'));
    const error = reader.error();
    end(error ? 'failed' : 'succeeded', error ? 'upstream_error' : null);
  });
  res.on('close', () => {
    if (!res.complete) fail(exchange.failure() ?? new UpstreamFailure('unreachable', 'the provider closed the connection in the middle of its answer'));
  });
  return { out, started };
}
