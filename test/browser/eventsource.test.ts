import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { chromiumAvailable, launchChromium } from '../support/chromium.js';
import {
  appendEvents,
  claim,
  complete,
  isolatedApp,
  label,
  newAgent,
  newRun,
  newRunner,
  resumeRun,
  runEvents,
  runnerConn,
  waitRun,
  type Conn,
} from '../server/run-helpers.js';

type Seen = { id: string; type: string; status?: string; previousStatus?: string | null; seq: number };

/** A browser's own EventSource, on a page of the API's origin, following a run a runner drives over HTTP. */
describe.skipIf(!chromiumAvailable)('EventSource in Chromium', () => {
  let browser: Browser;
  let page: Page;
  let app: Conn;
  const serverUrl = inject('serverUrl');

  beforeAll(async () => {
    app = { baseUrl: serverUrl, key: (await isolatedApp('eventsource')).key };
    browser = await launchChromium();
    page = await browser.newPage();
    await page.goto(`${serverUrl}/api/docs`);
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('sees every event of a run, status changes in order, until the terminal status', async () => {
    const l = label();
    const agent = await newAgent(app, { labels: [l] });
    const runner = await newRunner(app, [l]);
    const rc = runnerConn(serverUrl, runner);
    const run = await newRun(app, agent.id);

    // The page opens the stream with ?token= (EventSource cannot send headers) and collects what it gets.
    await page.evaluate(
      ({ url }) => {
        const w = window as unknown as { seen: Seen[]; opened: boolean; errors: number; source: EventSource };
        w.seen = [];
        w.opened = false;
        w.errors = 0;
        const source = new EventSource(url);
        w.source = source;
        source.onopen = () => {
          w.opened = true;
        };
        source.onerror = () => {
          w.errors++;
        };
        const record = (e: MessageEvent) => {
          const data = JSON.parse(e.data as string);
          w.seen.push({ id: e.lastEventId, type: e.type, seq: data.seq, status: data.data.status, previousStatus: data.data.previousStatus });
          if (e.type === 'status' && ['succeeded', 'failed', 'cancelled', 'timed_out', 'expired'].includes(data.data.status)) source.close();
        };
        for (const type of ['status', 'log', 'output.delta', 'approval.requested', 'approval.decided']) source.addEventListener(type, record as EventListener);
      },
      { url: `/api/v1/realtime/runs/${run.id}?token=${encodeURIComponent(app.key)}` },
    );
    const seenCount = () => page.evaluate(() => (window as unknown as { seen: Seen[] }).seen.length);
    await page.waitForFunction(() => (window as unknown as { seen: unknown[] }).seen.length >= 1, undefined, { timeout: 10_000 });

    const c = await claim(rc, runner.id);
    await page.waitForFunction(() => (window as unknown as { seen: unknown[] }).seen.length >= 2, undefined, { timeout: 10_000 });
    expect(
      (
        await appendEvents(rc, c.lease.id, 1, [
          { runnerSeq: 1, type: 'log', data: { level: 'info', message: 'thinking' } },
          { runnerSeq: 2, type: 'output.delta', data: { text: 'Hello' } },
        ])
      ).status,
    ).toBe(200);
    expect((await waitRun(rc, c.lease.id, 1)).status).toBe(200);
    expect((await resumeRun(app, run.id, { approved: true })).status).toBe(200);
    expect((await appendEvents(rc, c.lease.id, 1, [{ runnerSeq: 3, type: 'output.delta', data: { text: ', world' } }])).status).toBe(200);
    expect((await complete(rc, c.lease.id, { fencingToken: 1, status: 'succeeded', output: { text: 'Hello, world' } })).status).toBe(200);

    await page.waitForFunction(() => (window as unknown as { source: EventSource }).source.readyState === EventSource.CLOSED, undefined, { timeout: 10_000 });
    const seen = await page.evaluate(() => (window as unknown as { seen: Seen[] }).seen);
    expect(await seenCount()).toBe(seen.length);
    const stored = await runEvents(app, run.id);
    expect(seen.map((e) => e.seq)).toEqual(stored.map((e) => e.seq));
    expect(seen.map((e) => e.id)).toEqual(stored.map((e) => String(e.seq)));
    expect(seen.map((e) => e.type)).toEqual([
      'status',
      'status',
      'log',
      'output.delta',
      'approval.requested',
      'status',
      'approval.decided',
      'status',
      'output.delta',
      'status',
    ]);
    expect(seen.filter((e) => e.type === 'status').map((e) => [e.previousStatus, e.status])).toEqual([
      [null, 'queued'],
      ['queued', 'running'],
      ['running', 'waiting'],
      ['waiting', 'running'],
      ['running', 'succeeded'],
    ]);
    expect(await page.evaluate(() => (window as unknown as { opened: boolean }).opened)).toBe(true);
  });

  it("stops by itself on a finished run: one stream, then the reconnect's 204 closes it for good", async () => {
    const l = label();
    const agent = await newAgent(app, { labels: [l] });
    const runner = await newRunner(app, [l]);
    const rc = runnerConn(serverUrl, runner);
    const run = await newRun(app, agent.id);
    const c = await claim(rc, runner.id);
    expect((await complete(rc, c.lease.id, { fencingToken: 1, status: 'succeeded', output: {} })).status).toBe(200);

    // Nothing here closes the source: the server's answers must.
    await page.evaluate(
      ({ url }) => {
        const w = window as unknown as { done: { seqs: number[]; opens: number; errors: number; source: EventSource } };
        const source = new EventSource(url);
        w.done = { seqs: [], opens: 0, errors: 0, source };
        source.onopen = () => w.done.opens++;
        source.onerror = () => w.done.errors++;
        source.addEventListener('status', (e) => w.done.seqs.push(JSON.parse(e.data as string).seq));
      },
      { url: `/api/v1/realtime/runs/${run.id}?token=${encodeURIComponent(app.key)}` },
    );
    await page.waitForFunction(() => (window as unknown as { done: { source: EventSource } }).done.source.readyState === EventSource.CLOSED, undefined, {
      timeout: 10_000,
    });
    const done = await page.evaluate(() => {
      const d = (window as unknown as { done: { seqs: number[]; opens: number; errors: number } }).done;
      return { seqs: d.seqs, opens: d.opens, errors: d.errors };
    });
    // One stream opened; two errors: its end (the source reconnects) and the 204 (it gives up).
    expect(done).toEqual({ seqs: [1, 2, 3], opens: 1, errors: 2 });
  });

  it('a bad token gets no stream: EventSource fails and sees no event', async () => {
    await page.evaluate(() => {
      const w = window as unknown as { bad: { events: number; failed: boolean } };
      w.bad = { events: 0, failed: false };
      const source = new EventSource(`/api/v1/realtime/runs?token=sbk_${'z'.repeat(43)}`);
      source.onmessage = () => w.bad.events++;
      source.onerror = () => {
        // A 401 is not an event stream: EventSource gives up for good.
        if (source.readyState === EventSource.CLOSED) w.bad.failed = true;
      };
    });
    await page.waitForFunction(() => (window as unknown as { bad: { failed: boolean } }).bad.failed, undefined, { timeout: 10_000 });
    expect(await page.evaluate(() => (window as unknown as { bad: { events: number } }).bad.events)).toBe(0);
  });
});
