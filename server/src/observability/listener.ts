import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { METRICS_CONTENT_TYPE } from './exposition.js';

const problem = (status: number, code: string, title: string, detail: string, instance: string) =>
  JSON.stringify({ type: `/api/problems/${code}`, title, status, detail, instance, code });

/**
 * `GET /metrics` on a listener of its own, without a token: for a scraper on a private network,
 * while the API's port faces the clients. Nothing else is served on it.
 */
export async function startMetricsListener(listen: { port: number; host: string }, render: () => Promise<string>, logger: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (path !== '/metrics') {
      send(
        404,
        'application/problem+json',
        problem(404, 'not-found', 'Not found', `No route ${req.method ?? ''} ${path}: this listener serves GET /metrics only.`, path),
      );
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(
        405,
        'application/problem+json',
        problem(405, 'method-not-allowed', 'Method not allowed', `${req.method ?? ''} is not allowed on /metrics; allowed: GET.`, path),
        {
          Allow: 'GET, HEAD',
        },
      );
      return;
    }
    render().then(
      (text) => send(200, METRICS_CONTENT_TYPE, text),
      (err: unknown) => {
        logger.error({ err }, 'collecting the metrics failed');
        send(503, 'application/problem+json', problem(503, 'not-ready', 'Not ready', 'The metrics could not be collected; try again.', path));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  return server;
}
