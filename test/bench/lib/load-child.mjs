// Child process: drives autocannon (as a library) for the parent, so the load generator has its own
// event loop and core. Messages in: { id, options }; out: { id, result } or { id, error }.
// options: url, connections, duration (s), method, headers, body, uniqueIdempotencyKey.
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';

function run(options) {
  const { url, connections, duration, method = 'GET', headers = {}, body, uniqueIdempotencyKey = false } = options;
  const target = new URL(url);
  const request = { method, path: `${target.pathname}${target.search}`, headers, ...(body === undefined ? {} : { body }) };
  if (uniqueIdempotencyKey) {
    // A fresh key on every request, as a client creating distinct runs sends them.
    request.setupRequest = (req) => ({ ...req, headers: { ...req.headers, 'Idempotency-Key': randomUUID() } });
  }
  return new Promise((resolve, reject) => {
    const instance = autocannon({ url: target.origin, connections, duration, requests: [request], timeout: 30 }, (err, result) =>
      err ? reject(err) : resolve(result),
    );
    // No progress bar or table: the parent reports.
    instance.on('error', reject);
  });
}

process.on('message', async ({ id, options }) => {
  try {
    const r = await run(options);
    process.send({
      id,
      result: {
        duration: r.duration,
        requests: r.requests.total,
        ok: r['2xx'],
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        statusCodes: r.statusCodeStats,
        // Autocannon records the latency of 2xx responses only, in whole milliseconds.
        latency: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: r.latency.average },
        perSecond: r.requests.average,
      },
    });
  } catch (err) {
    process.send({ id, error: String(err?.stack ?? err) });
  }
});
