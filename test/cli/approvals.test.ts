import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { call, claim, isolatedApp, label, newAgent, newRun, newRunner, runnerConn, type Conn } from '../server/run-helpers.js';
import { cli, json, keepSecret, tempHome } from './cli-helpers.js';

type Approval = {
  id: string;
  status: string;
  title: string;
  runId: string;
  decision: { outcome: string; note: string | null; editedPayload: unknown; response: unknown } | null;
};

let app: Conn;
let h: ReturnType<typeof tempHome>;
let env: Record<string, string>;

beforeAll(async () => {
  app = { baseUrl: inject('serverUrl'), key: (await isolatedApp('cli approvals')).key };
  keepSecret(app.key);
  h = tempHome();
  env = { ...h.env, SWITCHBOARD_BASE_URL: app.baseUrl, SWITCHBOARD_API_KEY: app.key };
});
afterAll(() => h?.cleanup());

const run = (args: string[], input?: string) => cli(args, { env, input });

/** A run that asked a person, with its run token, as a runner's agent does. */
async function asked(body: Record<string, unknown>) {
  const tag = label();
  const agent = await newAgent(app, { labels: [tag] });
  const runner = await newRunner(app, [tag]);
  const created = await newRun(app, agent.id);
  const c = await claim(runnerConn(app.baseUrl, runner), runner.id);
  const r = await call<Approval>({ baseUrl: app.baseUrl, key: c.runToken.token }, 'POST', `/api/v1/runs/${created.id}/approvals`, body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

describe('switchboard inbox and approvals', () => {
  it('the inbox lists what waits; approve with an edit, and it leaves the inbox', async () => {
    const approval = await asked({
      title: 'Refund 49.00 EUR?',
      payload: { amountMinor: 4900 },
      payloadSchema: { type: 'object', properties: { amountMinor: { type: 'integer', maximum: 4900 } } },
    });
    const table = await run(['inbox']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+KIND\s+TITLE\s+STATUS\s+RUN\s+EXPIRES/);
    expect(table.stdout).toContain(approval.id);
    expect(table.stdout).toContain('Refund 49.00 EUR?');

    const refused = await run(['approvals', 'approve', approval.id, '--edit', '{"amountMinor": 9900}']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('/editedPayload/amountMinor');
    const approved = json<Approval>(await run(['approvals', 'approve', approval.id, '--edit', '-', '--note', 'Half', '--json'], '{"amountMinor": 2500}'));
    expect(approved).toMatchObject({ status: 'approved', decision: { outcome: 'approve', note: 'Half', editedPayload: { amountMinor: 2500 } } });
    expect(json<{ data: Approval[] }>(await run(['inbox', '--json'])).data.map((a) => a.id)).not.toContain(approval.id);
    const again = await run(['approvals', 'reject', approval.id, '--note', 'Too late']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('Approval resolved');
  });

  it('reject needs --note; answer sends JSON when it parses, else the text', async () => {
    const question = await asked({ kind: 'input', title: 'Which account?' });
    const noNote = await run(['approvals', 'reject', question.id]);
    expect(noNote.code).not.toBe(0);
    expect(noNote.stderr).toContain("required option '--note <text>'");
    const answered = json<Approval>(await run(['approvals', 'answer', question.id, 'business', '--json']));
    expect(answered.decision).toMatchObject({ outcome: 'answer', response: 'business' });
    const other = await asked({ kind: 'input', title: 'Which order?' });
    expect(json<Approval>(await run(['approvals', 'answer', other.id, '{"orderId": "10-2291"}', '--json'])).decision!.response).toEqual({ orderId: '10-2291' });
    expect(json<Approval>(await run(['approvals', 'get', other.id, '--json'])).status).toBe('answered');
    expect(json<{ data: Approval[] }>(await run(['approvals', 'list', '--status', 'answered', '--json'])).data.map((a) => a.id)).toEqual([
      other.id,
      question.id,
    ]);
  });
});
