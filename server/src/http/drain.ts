import { Server as NetServer } from 'node:net';
import type { Server } from 'node:http';
import type { Context, Next } from 'koa';
import type { Drain } from '../util/drain.js';

/**
 * While draining every response says `Connection: close`, so the balancer drops each kept-alive
 * connection itself instead of reusing one the replica is about to close. Set last, over a
 * handler's own `Connection` header (an event stream's keep-alive).
 */
export const closeConnectionsWhileDraining = (drain: Drain) => async (ctx: Context, next: Next) => {
  try {
    await next();
  } finally {
    if (drain.draining) ctx.set('Connection', 'close');
  }
};

/** Above the balancer's upstream keep-alive timeout (5 s in deploy/nginx.conf), so it has closed its own idle connections. */
const IDLE_CLOSE_AFTER_MS = 6_000;
const IDLE_SWEEP_MS = 500;

/**
 * Stops accepting connections and waits until the open ones end, for at most `graceMs`; then
 * closes what is left and says how many. Node's own `http.Server#close` would close idle
 * kept-alive connections at once: a request the balancer is sending on one at that moment is lost
 * (a 502 for a POST, which it may not retry). Idle connections are left to the balancer, which
 * closes them after its own keep-alive timeout (shorter than the grace period), and busy ones close
 * after their response (`Connection: close`). A connection still idle `IDLE_CLOSE_AFTER_MS` into the
 * drain is no balancer's (nginx's upstream keep-alive timeout is 5 s, deploy/nginx.conf): a client
 * of its own (an SDK, a browser) would otherwise hold the stop for the whole grace period.
 */
export function drainConnections(server: Server, graceMs: number): Promise<{ forcedConnections: number }> {
  return new Promise((resolve) => {
    let forcedConnections = 0;
    let sweep: NodeJS.Timeout | undefined;
    const idle = setTimeout(
      () => {
        server.closeIdleConnections();
        sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
      },
      Math.min(IDLE_CLOSE_AFTER_MS, graceMs),
    );
    const deadline = setTimeout(() => {
      server.getConnections((_err, count) => {
        forcedConnections = count;
        server.closeAllConnections();
      });
    }, graceMs);
    NetServer.prototype.close.call(server, () => {
      clearTimeout(deadline);
      clearTimeout(idle);
      clearInterval(sweep);
      resolve({ forcedConnections });
    });
  });
}
