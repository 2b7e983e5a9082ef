import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { loadConfig, startServer, type RunningServer } from '@switchboard/server';
import { createTestDatabase, masterKeyFor, type TestDatabase } from '../support/databases.js';
import { newBootstrapKey } from '../support/server-process.js';

// A client that hangs up in the middle of sending its request is not a server failure: it is logged
// as what it is, never as an unhandled error, and the server goes on serving.
let db: TestDatabase;
let server: RunningServer;
let key: string;
const lines: { level: number; msg: string }[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  key = newBootstrapKey();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  const config = loadConfig({
    NODE_ENV: 'production',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: db.url,
    SWITCHBOARD_BOOTSTRAP_KEY: key,
    SWITCHBOARD_MASTER_KEY: masterKeyFor(db),
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
  });
  server = await startServer(config, pino({ level: 'info' }, sink));
});

afterAll(async () => {
  await server.close();
  await db.drop();
});

/** Sends the headers and part of a declared body, then closes the connection. */
async function hangUpMidBody() {
  const url = new URL(server.url);
  const socket = connect(Number(url.port), url.hostname);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    `POST /api/v1/agents HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"name":`,
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.destroy();
  const logged = Date.now() + 5_000;
  while (!lines.some((l) => l.msg === 'request' && l.level === 30) && Date.now() < logged) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('a client that hangs up mid-request', () => {
  it('is logged as such, not as an error, and the server goes on', async () => {
    await hangUpMidBody();
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    expect(lines.some((l) => l.msg === 'the client closed the connection before its request was read')).toBe(true);
    const res = await fetch(`${server.url}/api/v1/agents?pageSize=1`, { headers: { Authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
  });
});
