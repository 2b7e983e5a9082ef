import { beforeAll, describe, expect, inject, it } from 'vitest';
import { call, expectProblem, isolatedApp, newAgent, type Conn } from './run-helpers.js';

/** A 422 says what would have been accepted, and quotes what was refused. */
let app: Conn;

beforeAll(async () => {
  app = { baseUrl: inject('serverUrl'), key: (await isolatedApp('messages')).key };
});

const detailsOf = (reply: Awaited<ReturnType<typeof call>>) => expectProblem(reply, 422, 'validation-error').errors!.map((e) => e.detail);

describe('validation messages', () => {
  it('names the allowed values of an enum in the body', async () => {
    const reply = await call(app, 'POST', '/api/v1/agents', { name: 'enum', model: 'echo', runtime: 'lambda' });
    expect(detailsOf(reply)).toEqual(['"/runtime" must be one of: runner, http.']);
  });

  it("names the first values of a long enum and counts the others, within an issue's 1,000 characters", async () => {
    const reply = await call(app, 'POST', '/api/v1/webhook-endpoints', { url: 'https://hooks.example.com/x', eventTypes: ['nope.created'] });
    const long = detailsOf(reply).find((d) => d.startsWith('"/eventTypes/0" must be one of: agent.created, agent.updated'));
    expect(long).toMatch(/, and \d+ more \(see the spec\)\.$/);
    expect(long!.length).toBeLessThanOrEqual(1000);
  });

  it('names the allowed values of an enum in the query', async () => {
    const reply = await call(app, 'GET', '/api/v1/agents?status=archived');
    expect(detailsOf(reply)).toEqual(['The query parameter "status" must be one of: active, paused, retired.']);
  });

  it('quotes a header value its pattern refuses', async () => {
    const reply = await call(app, 'GET', '/api/v1/agents', undefined, { 'X-App-Id': 'not an id' });
    const [detail] = detailsOf(reply);
    expect(detail).toMatch(/^The header parameter "X-App-Id" must match the pattern .+, and "not an id" does not\.$/);
  });

  it('echoes a cron expression as given, whether the schema or the cron parser refuses it', async () => {
    const agent = await newAgent(app);
    const outOfRange = await call(app, 'POST', '/api/v1/schedules', { name: 'cron', agentId: agent.id, cron: '0 25 * * *' });
    expect(detailsOf(outOfRange)).toEqual(['"0 25 * * *" is not a valid cron expression: Invalid value for hour: 25.']);
    expect(outOfRange.body.detail).toContain('"0 25 * * *"');

    const words = await call(app, 'POST', '/api/v1/schedules', { name: 'cron', agentId: agent.id, cron: 'every day' });
    expect(detailsOf(words)).toEqual([expect.stringMatching(/^"\/cron" must match the pattern .+, and "every day" does not\.$/)]);
  });
});
