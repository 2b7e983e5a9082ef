import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { uniqueName } from '../support/client.js';
import { isolatedApp } from '../server/run-helpers.js';

type ApiVersionList = components['schemas']['ApiVersionList'];
type Document = { info: { version: string }; paths: Record<string, Record<string, Operation>> };
type Operation = { operationId: string; responses: Record<string, { content?: Record<string, { schema?: Schema }> }> };
type Schema = { contentSchema?: unknown } & Record<string, unknown>;

/** Who sends a recorded request: the application's key, or the runner that claimed the run. */
type Sender = 'key' | 'runner';
type Recorded = {
  as: Sender;
  method: string;
  /** With `{name}` placeholders for what earlier answers gave. */
  path: string;
  body?: (vars: Vars) => unknown;
  /** What later requests need from this answer. */
  keep?: (body: any, vars: Vars) => void;
};
type Vars = Record<string, string | number>;

/**
 * Requests recorded from a client's session (an agent, a run claimed by a runner, its events,
 * including a `log` whose data is not typed, the run's stream read through and resumed past its
 * end, a webhook endpoint), replayed in every served version.
 */
const RECORDED: Recorded[] = [
  { as: 'key', method: 'POST', path: '/api/v1/agents', body: () => ({ name: uniqueName('replay'), model: 'gpt-4.1' }), keep: (b, v) => (v.agentId = b.id) },
  { as: 'key', method: 'GET', path: '/api/v1/agents/{agentId}' },
  {
    as: 'key',
    method: 'POST',
    path: '/api/v1/runners',
    body: () => ({ name: uniqueName('replay-runner'), labels: [] }),
    keep: (b, v) => ((v.runnerId = b.id), (v.runnerToken = b.token)),
  },
  {
    as: 'key',
    method: 'POST',
    path: '/api/v1/runs',
    body: (v) => ({ agentId: v.agentId, input: { question: 'Where is my order?' } }),
    keep: (b, v) => (v.runId = b.id),
  },
  {
    as: 'runner',
    method: 'POST',
    path: '/api/v1/runners/{runnerId}/claims?wait=0',
    keep: (b, v) => ((v.leaseId = b.lease.id), (v.fencingToken = b.lease.fencingToken)),
  },
  {
    as: 'runner',
    method: 'POST',
    path: '/api/v1/leases/{leaseId}/events',
    body: (v) => ({
      fencingToken: v.fencingToken,
      events: [
        { runnerSeq: 1, type: 'log', data: { level: 'info', message: 'looking it up' } },
        { runnerSeq: 2, type: 'output.delta', data: { text: 'On its way' } },
        { runnerSeq: 3, type: 'tool.call', data: { name: 'lookup', arguments: { order: 42 } } },
      ],
    }),
  },
  // Data the first version took and the newest refuses (422 there).
  {
    as: 'runner',
    method: 'POST',
    path: '/api/v1/leases/{leaseId}/events',
    body: (v) => ({ fencingToken: v.fencingToken, events: [{ runnerSeq: 4, type: 'log', data: { text: 'untyped' } }] }),
  },
  { as: 'key', method: 'GET', path: '/api/v1/runs/{runId}/events' },
  {
    as: 'runner',
    method: 'POST',
    path: '/api/v1/leases/{leaseId}/complete',
    body: (v) => ({ fencingToken: v.fencingToken, status: 'succeeded', output: { answer: 'On its way' } }),
  },
  { as: 'key', method: 'GET', path: '/api/v1/runs/{runId}' },
  { as: 'key', method: 'GET', path: '/api/v1/realtime/runs/{runId}?after=0' },
  { as: 'key', method: 'GET', path: '/api/v1/realtime/runs/{runId}?after=1000' },
  {
    as: 'key',
    method: 'POST',
    path: '/api/v1/webhook-endpoints',
    body: () => ({ url: 'http://127.0.0.1:9/replay', eventTypes: ['agent.retired'] }),
    keep: (b, v) => (v.endpointId = b.id),
  },
  { as: 'key', method: 'DELETE', path: '/api/v1/webhook-endpoints/{endpointId}' },
  { as: 'key', method: 'GET', path: '/api/v1/organization' },
  { as: 'key', method: 'GET', path: '/api/v1/versions' },
];

/** The operation a concrete path and method are, in a document: its template's segments match. */
function operationOf(document: Document, method: string, path: string): Operation {
  const segments = path.split('?')[0]!.split('/');
  for (const [template, item] of Object.entries(document.paths)) {
    const parts = template.split('/');
    if (parts.length === segments.length && parts.every((p, i) => p.startsWith('{') || p === segments[i]) && item[method.toLowerCase()]) {
      return item[method.toLowerCase()]!;
    }
  }
  throw new Error(`no operation ${method} ${path} in version ${document.info.version}`);
}

/** Checks one answer against its version's document: a declared status, and a body (or each streamed event) its schema allows. */
function checker(document: Document) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  for (const format of ['int32', 'int64', 'binary']) ajv.addFormat(format, true);
  ajv.addSchema(document, 'spec');
  const compiled = new Map<string, ValidateFunction>();
  const validatorAt = (pointer: string) => compiled.get(pointer) ?? compiled.set(pointer, ajv.compile({ $ref: `spec#${pointer}` })).get(pointer)!;
  const escape = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

  return (method: string, path: string, status: number, contentType: string, text: string): string[] => {
    const op = operationOf(document, method, path);
    const template = Object.entries(document.paths).find(([, item]) => item[method.toLowerCase()] === op)![0];
    const declared = op.responses[String(status)];
    if (!declared) return [`${op.operationId} answered ${status}, which version ${document.info.version} does not declare`];
    const base = `/paths/${escape(template)}/${method.toLowerCase()}/responses/${status}/content`;
    if (contentType.startsWith('text/event-stream')) {
      const data = [...text.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as unknown);
      const validate = validatorAt(`${base}/text~1event-stream/schema/contentSchema`);
      return data.flatMap((event) => (validate(event) ? [] : [`${op.operationId} streamed ${JSON.stringify(event)}: ${ajv.errorsText(validate.errors)}`]));
    }
    const media = contentType.split(';')[0]!;
    if (!text || !declared.content?.[media]) return [];
    const validate = validatorAt(`${base}/${escape(media)}/schema`);
    return validate(JSON.parse(text)) ? [] : [`${op.operationId} ${status}: ${ajv.errorsText(validate.errors)}`];
  };
}

const serverUrl = () => inject('serverUrl');
let versions: string[];

beforeAll(async () => {
  const listed = (await (await fetch(`${serverUrl()}/api/v1/versions`)).json()) as ApiVersionList;
  versions = listed.data.filter((v) => v.status !== 'sunset').map((v) => v.version);
});

describe('recorded requests replayed in every served version', () => {
  it('are answered in that version, as its own OpenAPI document describes', async () => {
    expect(versions.length).toBeGreaterThanOrEqual(2);
    const seen = new Map<string, string[]>();
    for (const version of versions) {
      const document = (await (await fetch(`${serverUrl()}/api/openapi.json?version=${version}`)).json()) as Document;
      expect(document.info.version).toBe(version);
      const check = checker(document);
      const app = await isolatedApp('replay');
      const vars: Vars = {};
      const statuses: string[] = [];
      for (const step of RECORDED) {
        const path = step.path.replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name]));
        const credential = step.as === 'runner' ? String(vars.runnerToken) : app.key;
        const body = step.body?.(vars);
        const res = await fetch(`${serverUrl()}${path}`, {
          method: step.method,
          headers: {
            Authorization: `Bearer ${credential}`,
            'Switchboard-Version': version,
            Accept: path.includes('/realtime/') ? 'text/event-stream' : 'application/json',
            ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.text();
        expect(res.headers.get('switchboard-version'), `${step.method} ${path}`).toBe(version);
        expect(check(step.method, path, res.status, res.headers.get('content-type') ?? '', text)).toEqual([]);
        if (res.ok && step.keep) step.keep(JSON.parse(text), vars);
        statuses.push(`${step.method} ${step.path} ${res.status}`);
      }
      seen.set(version, statuses);
    }
    // What differs between the versions is what their changes say: the untyped log, the stream resumed past its end.
    const [first, newest] = [seen.get(versions[0]!)!, seen.get(versions.at(-1)!)!];
    const differing = first.flatMap((line, i) => (line === newest[i] ? [] : [[line, newest[i]]]));
    expect(differing).toEqual([
      ['POST /api/v1/leases/{leaseId}/events 200', 'POST /api/v1/leases/{leaseId}/events 422'],
      ['GET /api/v1/realtime/runs/{runId}?after=1000 200', 'GET /api/v1/realtime/runs/{runId}?after=1000 204'],
    ]);
  });
});
