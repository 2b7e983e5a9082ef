import type { Executor } from '../../db/database.js';
import { defineHandlers } from '../handler-types.js';
import { mergePatch } from '../../util/merge-patch.js';
import { agentMachine } from '../agents/state-machine.js';
import { getAgent } from '../agents/store.js';
import { inputRulesOf, resolveInput } from '../agents/inputs.js';
import { listRuns } from '../runs/store.js';
import { recordEvent } from '../webhooks/outbox.js';
import { cronFor } from './cron.js';
import { scheduleMachine } from './state-machine.js';
import * as store from './store.js';

async function transition(db: Executor, applicationId: string, scheduleId: string, action: 'pause' | 'resume') {
  const row = await store.getScheduleRow(db, applicationId, scheduleId, { forUpdate: true });
  const { to, event } = scheduleMachine.assertTransition(action, row.status);
  await store.setScheduleStatus(db, row, to);
  const schedule = store.toSchedule(await store.getScheduleRow(db, applicationId, row.id));
  await recordEvent(db, applicationId, event, schedule);
  return { status: 200 as const, body: schedule };
}

export const scheduleHandlers = defineHandlers({
  listSchedules: async ({ db, auth, query }) => ({ status: 200, body: await store.listSchedules(db, auth.applicationId, query) }),

  createSchedule: async ({ db, auth, body }) => {
    const agent = await getAgent(db, auth.applicationId, body.agentId);
    agentMachine.assertTransition('planRuns', agent.status);
    const spec: store.ScheduleSpec = {
      name: body.name,
      cron: body.cron,
      timezone: body.timezone ?? 'UTC',
      input: body.input ?? {},
      metadata: body.metadata ?? {},
      missedRunPolicy: body.missedRunPolicy ?? 'skip',
    };
    cronFor(spec.cron, spec.timezone);
    // Its runs' input is checked now, not first when it fires with nobody to tell.
    resolveInput(await inputRulesOf(db, agent), spec.input, '/input');
    const schedule = await store.insertSchedule(db, auth.applicationId, agent.id, spec, body.status ?? 'active');
    await recordEvent(db, auth.applicationId, 'schedule.created', schedule);
    return { status: 201, body: schedule, headers: { Location: `/api/v1/schedules/${schedule.id}` } };
  },

  getSchedule: async ({ db, auth, path }) => ({ status: 200, body: store.toSchedule(await store.getScheduleRow(db, auth.applicationId, path.scheduleId)) }),

  updateSchedule: async ({ db, auth, path, body, checkIfMatch }) => {
    const row = await store.getScheduleRow(db, auth.applicationId, path.scheduleId, { forUpdate: true });
    const current = store.toSchedule(row);
    checkIfMatch(current);
    const { name, cron, timezone, input, metadata, missedRunPolicy } = current;
    const next = mergePatch({ name, cron, timezone, input, metadata, missedRunPolicy }, body);
    cronFor(next.cron, next.timezone);
    if (body.input !== undefined) resolveInput(await inputRulesOf(db, await getAgent(db, auth.applicationId, row.agent_id)), next.input, '/input');
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- mergePatch types its result as its target, but a patch's null removes metadata
    await store.updateSchedule(db, row, { ...next, metadata: next.metadata ?? {} });
    const schedule = store.toSchedule(await store.getScheduleRow(db, auth.applicationId, row.id));
    await recordEvent(db, auth.applicationId, 'schedule.updated', schedule);
    return { status: 200, body: schedule };
  },

  deleteSchedule: async ({ db, auth, path, checkIfMatch }) => {
    const row = await store.getScheduleRow(db, auth.applicationId, path.scheduleId, { forUpdate: true });
    const schedule = store.toSchedule(row);
    checkIfMatch(schedule);
    await store.deleteSchedule(db, row.id);
    await recordEvent(db, auth.applicationId, 'schedule.deleted', schedule);
    return { status: 204, body: undefined };
  },

  pauseSchedule: ({ db, auth, path }) => transition(db, auth.applicationId, path.scheduleId, 'pause'),
  resumeSchedule: ({ db, auth, path }) => transition(db, auth.applicationId, path.scheduleId, 'resume'),

  listScheduleRuns: async ({ db, auth, path, query }) => {
    const row = await store.getScheduleRow(db, auth.applicationId, path.scheduleId);
    return { status: 200, body: await listRuns(db, auth.applicationId, { ...query, triggeredBy: { type: 'schedule', id: row.id } }) };
  },
});
