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

/**
 * Stops accepting connections and waits until the open ones end, for at most `graceMs`; then
 * closes what is left and says how many. Node's own `http.Server#close` would close idle
 * kept-alive connections at once: a request the balancer is sending on one at that moment is lost
 * (a 502 for a POST, which it may not retry). Idle connections are left to the balancer, which
 * closes them after its own keep-alive timeout (shorter than the grace period), and busy ones close
 * after their response (`Connection: close`).
 */
export function drainConnections(server: Server, graceMs: number): Promise<{ forcedConnections: number }> {
  return new Promise((resolve) => {
    let forcedConnections = 0;
    const deadline = setTimeout(() => {
      server.getConnections((_err, count) => {
        forcedConnections = count;
        server.closeAllConnections();
      });
    }, graceMs);
    NetServer.prototype.close.call(server, () => {
      clearTimeout(deadline);
      resolve({ forcedConnections });
    });
  });
}
