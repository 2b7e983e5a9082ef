// Child process: a bare server answering GET /api/v1/agents/:id with a fixed agent, the baseline
// the real server is compared with. argv: koa|http <port>; the agent arrives over IPC.
// Koa and @koa/router are the server's own dependencies, loaded from where the server loads them.
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [kind, portArg] = process.argv.slice(2);
const port = Number(portArg);
const serverRequire = createRequire(createRequire(import.meta.url).resolve('@switchboard/server/main'));

/** Imports a package as the server's ESM code does (its "import" export), resolved from the server. */
async function importFromServer(name) {
  let dir = dirname(serverRequire.resolve(name));
  while (!existsSync(join(dir, 'package.json')) || JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name !== name) dir = dirname(dir);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const dot = pkg.exports?.['.'] ?? pkg.exports;
  let target = dot?.import ?? pkg.module ?? pkg.main;
  while (target && typeof target === 'object') target = target.import ?? target.default;
  return (await import(pathToFileURL(join(dir, target)).href)).default;
}

const { agent } = await new Promise((resolve) => process.once('message', resolve));
let server;
if (kind === 'koa') {
  const Koa = await importFromServer('koa');
  const Router = await importFromServer('@koa/router');
  const app = new Koa();
  const router = new Router();
  router.get('/api/v1/agents/:id', (ctx) => {
    ctx.body = { ...agent, id: ctx.params.id };
  });
  app.use(router.routes());
  server = http.createServer(app.callback());
} else if (kind === 'http') {
  const route = /^\/api\/v1\/agents\/([^/?]+)/;
  server = http.createServer((req, res) => {
    const m = req.method === 'GET' ? route.exec(req.url ?? '') : null;
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.stringify({ ...agent, id: m[1] });
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
} else {
  throw new Error(`unknown baseline ${kind}`);
}
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => process.send({ ready: true }));
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
