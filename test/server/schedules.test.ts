import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '@switchboard/server';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { call, expectInvalidTransition, expectProblem, newAgent, runEvents, type Conn, type Run } from './run-helpers.js';
import type { components } from '../../server/src/generated/openapi.js';

type Schedule = components['schemas']['Schedule'];

/**
 * Schedules on an in-process server whose clock the test moves; the scheduler fires only when the
 * test calls fireSchedulesNow (its own timer is a minute). The clock is process-global, so these
 * tests run one after the other.
 */
let fakeNow = Date.parse('2031-03-26T12:00:00.000Z');
const setNow = (iso: string) => {
  fakeNow = Date.parse(iso);
};

let server: RunningServer;
let app: Conn;
let running: InProcessServer | undefined;

beforeAll(async () => {
  running = await startInProcessServer({ now: () => fakeNow }, { SCHEDULE_MISFIRE_SECONDS: '60' });
  server = running.server;
  app = { baseUrl: running.baseUrl, key: running.adminKey };
});

afterAll(() => running?.stop());

async function newSchedule(body: Record<string, unknown>): Promise<Schedule> {
  const r = await call<Schedule>(app, 'POST', '/api/v1/schedules', { name: 'nightly', ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}
const getSchedule = async (id: string) => (await call<Schedule>(app, 'GET', `/api/v1/schedules/${id}`)).body;
const scheduleRuns = async (id: string) => (await call<{ data: Run[] }>(app, 'GET', `/api/v1/schedules/${id}/runs?pageSize=100`)).body.data;
const scheduledFor = async (run: Run) => (await runEvents(app, run.id))[0]!.data.scheduledFor;

describe('schedules', () => {
  it('creates a schedule with its next due time in its time zone, and refuses invalid cron and zones naming the field', async () => {
    setNow('2031-03-26T12:00:00.000Z');
    const agent = await newAgent(app);
    const s = await newSchedule({ agentId: agent.id, cron: '0 9 * * *', timezone: 'Europe/Paris', input: { report: 'daily' } });
    expect(s).toMatchObject({
      object: 'schedule',
      status: 'active',
      missedRunPolicy: 'skip',
      nextRunAt: '2031-03-27T08:00:00.000Z',
      lastRunAt: null,
      lastRunId: null,
    });
    expect(s.id).toMatch(/^sched_[0-7][0-9a-hjkmnp-tv-z]{25}$/);

    const badCron = await call(app, 'POST', '/api/v1/schedules', { name: 'x', agentId: agent.id, cron: '61 * * * *' });
    expect(expectProblem(badCron, 422, 'validation-error').errors!.map((e) => e.pointer)).toEqual(['/cron']);
    const badZone = await call(app, 'POST', '/api/v1/schedules', { name: 'x', agentId: agent.id, cron: '* * * * *', timezone: 'Mars/Olympus' });
    expect(expectProblem(badZone, 422, 'validation-error').errors!.map((e) => e.pointer)).toEqual(['/timezone']);
    expectProblem(
      await call(app, 'POST', '/api/v1/schedules', { name: 'x', agentId: 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab', cron: '* * * * *' }),
      404,
      'not-found',
    );
  });

  // In 2031 Europe moves to summer time on Sunday 30 March.
  it('fires a 09:00 Europe/Paris schedule at 08:00 UTC, then at 07:00 UTC after the March change to summer time', async () => {
    setNow('2031-03-29T07:30:00.000Z');
    const agent = await newAgent(app);
    const s = await newSchedule({ agentId: agent.id, cron: '0 9 * * *', timezone: 'Europe/Paris' });
    expect(s.nextRunAt).toBe('2031-03-29T08:00:00.000Z');
    const due: string[] = [];
    for (const at of ['2031-03-29T08:00:00.000Z', '2031-03-30T07:00:00.000Z', '2031-03-31T07:00:00.000Z']) {
      setNow(at);
      await server.fireSchedulesNow();
      await server.fireSchedulesNow();
      due.push(...(await Promise.all((await scheduleRuns(s.id)).map(scheduledFor))).map(String));
    }
    expect([...new Set(due)].sort()).toEqual(['2031-03-29T08:00:00.000Z', '2031-03-30T07:00:00.000Z', '2031-03-31T07:00:00.000Z']);
    expect((await getSchedule(s.id)).nextRunAt).toBe('2031-04-01T07:00:00.000Z');
  });

  it('fires once per due time however often the scheduler runs, each run triggered by the schedule', async () => {
    setNow('2031-04-01T10:00:30.000Z');
    const agent = await newAgent(app);
    const s = await newSchedule({ agentId: agent.id, cron: '* * * * *', input: { tick: true } });
    for (let minute = 1; minute <= 5; minute++) {
      setNow(`2031-04-01T10:0${minute}:05.000Z`);
      await Promise.all([server.fireSchedulesNow(), server.fireSchedulesNow(), server.fireSchedulesNow()]);
    }
    const runs = await scheduleRuns(s.id);
    expect(runs).toHaveLength(5);
    expect(runs.every((r) => r.triggeredBy.type === 'schedule' && r.triggeredBy.id === s.id && r.agentId === agent.id)).toBe(true);
    expect(runs[0]!.input).toEqual({ tick: true });
    expect((await Promise.all(runs.map(scheduledFor))).sort()).toEqual([1, 2, 3, 4, 5].map((m) => `2031-04-01T10:0${m}:00.000Z`));
    const after = await getSchedule(s.id);
    expect(after.lastRunId).toBe(runs[0]!.id);
    expect(after.nextRunAt).toBe('2031-04-01T10:06:00.000Z');
  });

  it('after a downtime, skip drops the missed due times and runOnce starts one run for them', async () => {
    setNow('2031-04-02T00:00:30.000Z');
    const agent = await newAgent(app);
    const skip = await newSchedule({ agentId: agent.id, cron: '*/10 * * * *', missedRunPolicy: 'skip' });
    const once = await newSchedule({ agentId: agent.id, cron: '*/10 * * * *', missedRunPolicy: 'runOnce' });
    setNow('2031-04-02T01:05:00.000Z');
    await server.fireSchedulesNow();
    expect(await scheduleRuns(skip.id)).toHaveLength(0);
    expect(await scheduleRuns(once.id)).toHaveLength(1);
    for (const s of [skip, once]) expect((await getSchedule(s.id)).nextRunAt).toBe('2031-04-02T01:10:00.000Z');
  });

  it('pauses (no next due time, no runs) and resumes from the next due time; wrong transitions are 409', async () => {
    setNow('2031-04-03T00:00:30.000Z');
    const agent = await newAgent(app);
    const s = await newSchedule({ agentId: agent.id, cron: '* * * * *' });
    const paused = await call<Schedule>(app, 'POST', `/api/v1/schedules/${s.id}/pause`);
    expect(paused.body).toMatchObject({ status: 'paused', nextRunAt: null });
    expectInvalidTransition(await call(app, 'POST', `/api/v1/schedules/${s.id}/pause`), 'paused');
    setNow('2031-04-03T00:05:30.000Z');
    await server.fireSchedulesNow();
    expect(await scheduleRuns(s.id)).toHaveLength(0);
    const resumed = await call<Schedule>(app, 'POST', `/api/v1/schedules/${s.id}/resume`);
    expect(resumed.body).toMatchObject({ status: 'active', nextRunAt: '2031-04-03T00:06:00.000Z' });
    expectInvalidTransition(await call(app, 'POST', `/api/v1/schedules/${s.id}/resume`), 'active');
  });

  it('lets due times of a paused agent pass without runs', async () => {
    setNow('2031-04-04T00:00:30.000Z');
    const agent = await newAgent(app);
    const s = await newSchedule({ agentId: agent.id, cron: '* * * * *' });
    await call(app, 'POST', `/api/v1/agents/${agent.id}/pause`);
    setNow('2031-04-04T00:01:10.000Z');
    await server.fireSchedulesNow();
    expect(await scheduleRuns(s.id)).toHaveLength(0);
    expect((await getSchedule(s.id)).nextRunAt).toBe('2031-04-04T00:02:00.000Z');
  });

  it('updates as a merge patch (a new cron moves the next due time), honours If-Match, lists and deletes', async () => {
    setNow('2031-04-05T00:00:30.000Z');
    const agent = await newAgent(app);
    const s = await newSchedule({ agentId: agent.id, cron: '0 * * * *', metadata: { team: 'ops' } });
    const got = await call<Schedule>(app, 'GET', `/api/v1/schedules/${s.id}`);
    const etag = got.headers.get('etag')!;
    const patched = await call<Schedule>(app, 'PATCH', `/api/v1/schedules/${s.id}`, { cron: '30 * * * *', name: 'half past' }, { 'If-Match': etag });
    expect(patched.body).toMatchObject({ cron: '30 * * * *', name: 'half past', nextRunAt: '2031-04-05T00:30:00.000Z', metadata: { team: 'ops' } });
    expectProblem(await call(app, 'PATCH', `/api/v1/schedules/${s.id}`, { name: 'stale' }, { 'If-Match': etag }), 412, 'precondition-failed');
    expect(
      expectProblem(await call(app, 'PATCH', `/api/v1/schedules/${s.id}`, { cron: 'every day' }), 422, 'validation-error').errors!.map((e) => e.pointer),
    ).toEqual(['/cron']);
    const listed = await call<{ data: Schedule[] }>(app, 'GET', `/api/v1/schedules?agentId=${agent.id}&status=active`);
    expect(listed.body.data.map((x) => x.id)).toEqual([s.id]);
    expect((await call(app, 'DELETE', `/api/v1/schedules/${s.id}`)).status).toBe(204);
    expectProblem(await call(app, 'GET', `/api/v1/schedules/${s.id}`), 404, 'not-found');
  });

  it("gives an installed agent's runs its locked values and layered defaults, and cancels a run whose input the schema no longer takes", async () => {
    setNow('2031-05-01T10:00:30.000Z');
    const schema = {
      type: 'object',
      properties: { report: { type: 'string' }, language: { type: 'string', default: 'en' }, format: { type: 'string', default: 'pdf' } },
      required: ['report'],
    };
    const source = await newAgent(app, { inputSchema: schema });
    const installed = (
      await call<{ id: string; agentId: string }>(app, 'POST', '/api/v1/installations', {
        source: { agentId: source.id, channel: 'latest' },
        inputDefaults: { language: 'fr', format: 'html' },
        lockedInputs: ['language'],
      })
    ).body;
    const s = await newSchedule({ agentId: installed.agentId, cron: '* * * * *', input: { report: 'daily', format: 'csv' } });
    setNow('2031-05-01T10:01:05.000Z');
    await server.fireSchedulesNow();
    expect((await scheduleRuns(s.id))[0]!.input).toEqual({ report: 'daily', language: 'fr', format: 'csv' });

    // The editor changes the locked value after the schedule was made: its runs take the new one.
    await call(app, 'PATCH', `/api/v1/installations/${installed.id}`, { inputDefaults: { language: 'de' } });
    setNow('2031-05-01T10:02:05.000Z');
    await server.fireSchedulesNow();
    expect((await scheduleRuns(s.id))[0]!.input).toEqual({ report: 'daily', language: 'de', format: 'csv' });

    // The author now asks for a field the schedule does not give: the run is cancelled, saying why.
    await call(app, 'PATCH', `/api/v1/agents/${source.id}`, { inputSchema: { ...schema, required: ['report', 'recipient'] } });
    setNow('2031-05-01T10:03:05.000Z');
    await server.fireSchedulesNow();
    const [cancelled] = await scheduleRuns(s.id);
    expect(cancelled).toMatchObject({ status: 'cancelled', error: { code: 'invalid_input' } });
    expect(cancelled!.error!.message).toContain('recipient');
  });
});
