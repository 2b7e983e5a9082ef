// Child process: many SSE subscribers on plain http.request connections (one socket each). For each
// `bench.tick` event it records the delivery latency: arrival time minus the `sentAt` the producer
// put in the event's data (both wall-clock ms from performance.timeOrigin + performance.now()).
// IPC in: open | count | reset | collect | close; out: the matching replies.
import http from 'node:http';

const now = () => performance.timeOrigin + performance.now();
const SENT_AT = /"sentAt":([0-9.]+)/;

let latencies = new Float64Array(1 << 16);
let recorded = 0;
let ended = 0;
const sockets = [];

function record(value) {
  if (recorded === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[recorded++] = value;
}

/** One subscriber; resolves once the stream answered 200 (rejects otherwise). */
function subscribe(url, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { headers: { Accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`stream answered ${res.statusCode}`));
        return;
      }
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk) => {
        const at = now();
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!message.includes('event: bench.tick')) continue;
          const m = SENT_AT.exec(message);
          if (m) record(at - Number(m[1]));
        }
      });
      res.on('end', () => ended++);
      res.on('error', () => {});
      resolve();
    });
    req.on('error', (err) => {
      ended++;
      reject(err);
    });
    req.end();
    sockets.push(req);
  });
}

process.on('message', async (msg) => {
  switch (msg.cmd) {
    case 'open': {
      let ok = 0;
      const failures = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: msg.concurrency }, async () => {
          while (next < msg.count) {
            next++;
            await subscribe(msg.url, msg.headers).then(
              () => ok++,
              (err) => failures.push(String(err.message ?? err)),
            );
          }
        }),
      );
      process.send({ cmd: 'opened', ok, failed: failures.length, firstError: failures[0] });
      break;
    }
    case 'count':
      process.send({ cmd: 'count', recorded, ended });
      break;
    case 'reset':
      recorded = 0;
      process.send({ cmd: 'reset' });
      break;
    case 'collect':
      process.send({ cmd: 'collected', latencies: latencies.slice(0, recorded), ended });
      break;
    case 'close':
      for (const s of sockets) s.destroy();
      process.exit(0);
  }
});
