import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Webhook, WebhookVerificationError as UpstreamVerificationError } from 'standardwebhooks';
import { Switchboard, verifyWebhook, WebhookVerificationError, type WebhookEvent } from '@switchboard/sdk';
import { ownApp, until } from './helpers.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const event = {
  id: 'evt_01jd4x7p2kf8q6v3b9m5t0s1ab',
  type: 'run.succeeded',
  createdAt: '2026-01-02T03:04:05.678Z',
  data: { runId: 'run_01jd4x7p2kf8q6v3b9m5t0s1ab', status: 'succeeded', output: { answer: 42, text: 'héllo ✓' } },
};
const body = JSON.stringify(event);

/** A delivery signed by the standardwebhooks package itself. */
function signed(payload = body, options: { at?: Date; id?: string; key?: string } = {}) {
  const id = options.id ?? 'whmsg_01jd4x7p2kf8q6v3b9m5t0s1ab';
  const at = options.at ?? new Date();
  const signature = new Webhook(options.key ?? secret).sign(id, at, payload);
  return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature };
}

const rejects = (f: () => unknown) => {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(WebhookVerificationError);
  return caught as Error;
};

describe('verifyWebhook', () => {
  it('accepts a body signed with standardwebhooks and a whsec_ secret, and returns the parsed event', () => {
    const headers = signed();
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(verifyWebhook(body, headers, secret)).toEqual(event);
  });

  it('accepts the raw body as bytes', () => {
    expect(verifyWebhook(new TextEncoder().encode(body), signed(), secret)).toEqual(event);
  });

  it('accepts a Headers object', () => {
    const headers = new Headers(signed());
    expect(verifyWebhook(body, headers, secret)).toEqual(event);
  });

  it('accepts a plain object with mixed-case header names (and node-style array values)', () => {
    const h = signed();
    const mixed = {
      'Webhook-Id': h['webhook-id'],
      'WEBHOOK-TIMESTAMP': h['webhook-timestamp'],
      'webhook-Signature': [h['webhook-signature']],
      'Content-Type': 'application/json',
      'X-Absent': undefined,
    };
    expect(verifyWebhook(body, mixed, secret)).toEqual(event);
  });

  it('accepts a signature header listing several signatures when one matches (key rotation)', () => {
    const h = signed();
    const other = signed(body, { key: `whsec_${randomBytes(32).toString('base64')}` });
    expect(verifyWebhook(body, { ...h, 'webhook-signature': `${other['webhook-signature']} ${h['webhook-signature']}` }, secret)).toEqual(event);
  });

  it('rejects a tampered body', () => {
    const headers = signed();
    rejects(() => verifyWebhook(body.replace('"answer":42', '"answer":43'), headers, secret));
    // Re-serialised JSON is not the body that was signed either.
    rejects(() => verifyWebhook(JSON.stringify(event, null, 2), headers, secret));
  });

  it('rejects a wrong secret', () => {
    rejects(() => verifyWebhook(body, signed(), `whsec_${randomBytes(32).toString('base64')}`));
  });

  it('rejects a tampered id or timestamp', () => {
    const h = signed();
    rejects(() => verifyWebhook(body, { ...h, 'webhook-id': 'whmsg_other' }, secret));
    rejects(() => verifyWebhook(body, { ...h, 'webhook-timestamp': String(Number(h['webhook-timestamp']) - 1) }, secret));
  });

  it('rejects a stale timestamp (older than 5 minutes) and one too far in the future, even correctly signed', () => {
    const stale = signed(body, { at: new Date(Date.now() - 6 * 60 * 1000) });
    expect(rejects(() => verifyWebhook(body, stale, secret)).message).toMatch(/too old/i);
    const future = signed(body, { at: new Date(Date.now() + 6 * 60 * 1000) });
    expect(rejects(() => verifyWebhook(body, future, secret)).message).toMatch(/too new/i);
    // Within the tolerance it passes.
    expect(verifyWebhook(body, signed(body, { at: new Date(Date.now() - 60 * 1000) }), secret)).toEqual(event);
  });

  it('rejects missing headers', () => {
    const h = signed();
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const) {
      const { [name]: _dropped, ...rest } = h;
      rejects(() => verifyWebhook(body, rest, secret));
    }
    rejects(() => verifyWebhook(body, {}, secret));
    rejects(() => verifyWebhook(body, new Headers(), secret));
  });

  it('rejects a signature that is not v1', () => {
    const h = signed();
    rejects(() => verifyWebhook(body, { ...h, 'webhook-signature': h['webhook-signature'].replace(/^v1,/, 'v2,') }, secret));
  });

  it('exports the standardwebhooks error class', () => {
    expect(WebhookVerificationError).toBe(UpstreamVerificationError);
  });
});

describe('webhook endpoints through the SDK', () => {
  it('receives the run events it subscribed to, verified and typed by verifyWebhook', async () => {
    const { sb } = await ownApp('sdk-webhooks');
    const events: WebhookEvent[] = [];
    let secret = '';
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        events.push(verifyWebhook(Buffer.concat(chunks), req.headers, secret));
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = await sb.webhookEndpoints.create({ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`, eventTypes: ['run.*'] });
      secret = endpoint.secret;
      const agent = await sb.agents.create({ name: 'Webhooked', model: 'echo' });
      const run = await sb.runs.create({ agentId: agent.id, input: { q: 1 } });
      await sb.runs.cancel(run.id);
      await until(() => events.length >= 2, 'two run events');
      // Deliveries run in parallel: order is not guaranteed, each event's createdAt is.
      expect(events.map((e) => e.type).sort()).toEqual(['run.cancelled', 'run.queued']);
      const cancelled = events.find((e) => e.type === 'run.cancelled')!;
      // The union narrows on `type`: a run event's data is a Run.
      if (cancelled.type !== 'run.cancelled') throw new Error('unexpected event');
      expect(cancelled.data).toMatchObject({ id: run.id, object: 'run', status: 'cancelled' });
      // A delivery is recorded as succeeded once the receiver's answer is back, a moment after the receiver saw it.
      let succeeded: string[] = [];
      await until(async () => {
        succeeded = (await sb.webhookEndpoints.messages(endpoint.id, { status: 'succeeded' })).data.map((m) => m.eventType).sort();
        return succeeded.length >= 2;
      }, 'two deliveries recorded');
      expect(succeeded).toEqual(['run.cancelled', 'run.queued']);
    } finally {
      receiver.close();
    }
  });
});

describe('triggers.invoke', () => {
  it("sends the trigger's credential only: never the client's own API key or application", async () => {
    const seen: Headers[] = [];
    const fetch: typeof globalThis.fetch = async (input, init) => {
      seen.push(new Request(input, init).headers);
      return new Response(
        JSON.stringify({
          object: 'trigger_invocation',
          triggerId: 'trg_01jd4x7p2kf8q6v3b9m5t0s1ab',
          runId: 'run_01jd4x7p2kf8q6v3b9m5t0s1ab',
          duplicate: false,
        }),
        {
          status: 202,
          headers: { 'Content-Type': 'application/json' },
        },
      );
    };
    const sb = new Switchboard({ baseUrl: 'http://127.0.0.1:9', apiKey: `sbk_${'k'.repeat(43)}`, appId: 'app_01jd4x7p2kf8q6v3b9m5t0s1ab', fetch });
    await sb.triggers.invoke('trg_01jd4x7p2kf8q6v3b9m5t0s1ab', { a: 1 }, { secret });
    await sb.triggers.invoke('trg_01jd4x7p2kf8q6v3b9m5t0s1ab', { a: 1 }, { secret: `sbt_${'t'.repeat(43)}` });
    expect(seen[0]!.get('authorization')).toBeNull();
    expect(seen[0]!.get('webhook-signature')).toMatch(/^v1,/);
    expect(seen[1]!.get('authorization')).toBe(`Bearer sbt_${'t'.repeat(43)}`);
    for (const headers of seen) expect(headers.get('x-app-id')).toBeNull();
  });
});
