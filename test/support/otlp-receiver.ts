import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

type AnyValue = { stringValue?: string; intValue?: number | string; doubleValue?: number; boolValue?: boolean };
type KeyValue = { key: string; value: AnyValue };
type OtlpSpan = {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: KeyValue[];
  links?: { traceId: string; spanId: string }[];
  status?: { code?: number; message?: string };
};
type ExportRequest = { resourceSpans: { resource?: { attributes?: KeyValue[] }; scopeSpans: { spans?: OtlpSpan[] }[] }[] };

/** A received span, its attributes as a plain object (integers as numbers) and its resource's beside them. */
export type Span = {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  startMs: number;
  endMs: number;
  attributes: Record<string, string | number | boolean | undefined>;
  resource: Record<string, string | number | boolean | undefined>;
  links: { traceId: string; spanId: string }[];
  status: { code?: number; message?: string };
};

/** OTLP's span kinds. */
export const SpanKind = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;

const valueOf = (v: AnyValue) => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.doubleValue ?? v.boolValue));
const attributesOf = (list: KeyValue[] = []) => Object.fromEntries(list.map((kv) => [kv.key, valueOf(kv.value)]));
/** OTLP/JSON ids are hex, except where an exporter sends base64: both become hex here. */
const hex = (id: string | undefined) => (id === undefined || id === '' ? undefined : /^[0-9a-f]+$/.test(id) ? id : Buffer.from(id, 'base64').toString('hex'));
const ms = (nanos: string | number) => Number(BigInt(nanos) / 1_000_000n);

/** An OTLP/HTTP trace receiver on loopback taking JSON exports (`POST /v1/traces`), as a collector would. */
export async function startOtlpReceiver() {
  const spans: Span[] = [];
  let requests = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !/json/.test(req.headers['content-type'] ?? '')) {
        res.writeHead(415).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExportRequest;
      for (const rs of body.resourceSpans) {
        const resource = attributesOf(rs.resource?.attributes);
        for (const ss of rs.scopeSpans)
          for (const s of ss.spans ?? [])
            spans.push({
              traceId: hex(s.traceId)!,
              spanId: hex(s.spanId)!,
              parentSpanId: hex(s.parentSpanId),
              name: s.name,
              kind: s.kind,
              startMs: ms(s.startTimeUnixNano),
              endMs: ms(s.endTimeUnixNano),
              attributes: attributesOf(s.attributes),
              resource,
              links: (s.links ?? []).map((l) => ({ traceId: hex(l.traceId)!, spanId: hex(l.spanId)! })),
              status: s.status ?? {},
            });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    /** Export requests received, whatever they held. */
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
