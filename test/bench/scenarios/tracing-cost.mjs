// tracing-cost: scenario 2 (get-agent) with OpenTelemetry tracing on (OTEL_EXPORTER_OTLP_ENDPOINT
// set: a SERVER span per request and a span per statement, exported as OTLP/JSON with the SDK's
// default batching and sampler) against tracing off (the default). The collector is a sink in the
// bench's process that reads and discards each export. Both servers run side by side and their
// rounds alternate, so drift on the machine falls on both alike.
import { createServer } from 'node:http';
import { alternatingGetAgent, costRow, startLoadClient } from '../lib/load.mjs';
import { startSwitchboard } from '../lib/processes.mjs';

export const name = 'tracing-cost';
export const description = 'get-agent with OpenTelemetry tracing on (OTLP/HTTP to a local sink) vs off, alternating rounds';

/** An OTLP/HTTP endpoint that accepts every export and keeps only how many it got and their bytes. */
async function startSink() {
  const seen = { exports: 0, bytes: 0 };
  const server = createServer((req, res) => {
    req.on('data', (chunk) => (seen.bytes += chunk.length));
    req.on('end', () => {
      seen.exports++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => new Promise((resolve) => server.close(resolve)) };
}

export async function run({ settings, log }) {
  const sink = await startSink();
  const servers = { off: await startSwitchboard(), on: await startSwitchboard({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url } }) };
  const client = await startLoadClient();
  try {
    const { on, off, cost } = await alternatingGetAgent({ servers, client, settings, log, feature: 'tracing' });
    return {
      rows: [
        { measure: 'throughput, tracing off', unit: 'req/s', ...off.rps },
        { measure: 'throughput, tracing on', unit: 'req/s', ...on.rps },
        { measure: 'p99 latency, tracing off', unit: 'ms', ...off.p99 },
        { measure: 'p99 latency, tracing on', unit: 'ms', ...on.p99 },
        costRow(cost),
        { measure: 'OTLP exports received', unit: 'count', median: sink.seen.exports },
      ],
      details: { on, off, cost, sink: sink.seen, serverErrors: servers.on.errors().length + servers.off.errors().length },
    };
  } finally {
    await client.stop();
    await servers.on.stop();
    await servers.off.stop();
    await sink.close();
  }
}
