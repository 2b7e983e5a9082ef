import { isPostgres, type Db } from '../../db/database.js';
import { nowIso } from '../../util/time.js';
import { fromJsonColumn } from '../../util/json-column.js';
import { agentMachine } from '../agents/state-machine.js';
import type { AgentStatus } from '../agents/store.js';
import type { StoredEvent } from '../runs/events.js';
import { insertResolvedRun } from '../runs/lifecycle.js';
import { inputRulesOf } from '../agents/inputs.js';
import { admitNewRun } from '../budgets/admission.js';
import { nextDue } from './cron.js';
import type { ScheduleRow } from './store.js';

const BATCH = 100;
/** One pass fires at most this many due times of one schedule (a second-by-second schedule that fell behind). */
const MAX_FIRES_PER_PASS = 60;
const SCHEDULED_RUN_TTL_SECONDS = 3600;

/**
 * Fires every due schedule once per due time. A due time later than `misfireMs` counts as missed
 * (no server was running): `skip` drops it, `runOnce` starts one run for all of them. Each schedule
 * is handled in its own transaction, locked, and its next due time moves only from the one it
 * fired, so several replicas never fire a due time twice.
 */
export async function fireDueSchedules(db: Db, misfireMs: number): Promise<StoredEvent[]> {
  const now = nowIso();
  const published: StoredEvent[] = [];
  const due = (await db('schedules').where({ status: 'active' }).where('next_run_at', '<=', now).select('id').limit(BATCH)) as { id: string }[];
  for (const { id } of due) {
    const events = await db.transaction(async (trx) => {
      const query = trx('schedules').where({ id, status: 'active' }).where('next_run_at', '<=', now).first().forUpdate();
      const row = (await (isPostgres(trx) ? query.skipLocked() : query)) as ScheduleRow | undefined;
      if (!row?.next_run_at) return [];
      const agent = await trx('agents')
        .where({ id: row.agent_id })
        .first<{ id: string; status: AgentStatus; version: number; input_schema: string | null; installation_id: string | null } | undefined>(
          'id',
          'status',
          'version',
          'input_schema',
          'installation_id',
        );
      const rules =
        agent &&
        // The rules of the version the runs start on, read once for every due time this pass fires.
        (await inputRulesOf(trx, {
          id: agent.id,
          version: agent.version,
          inputSchema: fromJsonColumn(agent.input_schema, null),
          installationId: agent.installation_id,
        }));
      const stored: StoredEvent[] = [];
      let lastRunId = row.last_run_id;
      let next: string | null = row.next_run_at;
      const startRun = async (scheduledFor: string) => {
        // A paused or retired agent takes no runs; its due times pass without one.
        if (!agent || !rules || !agentMachine.canTransition('startRun', agent.status)) return;
        // Locked fields take the installation's values; an input the schema no longer takes starts a cancelled run.
        const { run, events, cancelled } = await insertResolvedRun(
          trx,
          {
            applicationId: row.application_id,
            agentId: row.agent_id,
            agentVersion: agent.version,
            input: fromJsonColumn(row.input, {}),
            metadata: fromJsonColumn(row.metadata, {}),
            ttlSeconds: SCHEDULED_RUN_TTL_SECONDS,
            endUserId: null,
            triggeredBy: { type: 'schedule', id: row.id },
            scheduledFor,
          },
          rules,
          'override',
        );
        lastRunId = run.id;
        stored.push(...events, ...(cancelled ? [] : ((await admitNewRun(trx, run.id, 'record'))?.events ?? [])));
      };
      if (Date.parse(now) - Date.parse(next) > misfireMs) {
        if (row.missed_run_policy === 'runOnce') await startRun(next);
        next = nextDue(row.cron, row.timezone, new Date(now));
      } else {
        for (let fired = 0; next && next <= now && fired < MAX_FIRES_PER_PASS; fired++) {
          await startRun(next);
          next = nextDue(row.cron, row.timezone, new Date(next));
        }
      }
      await trx('schedules')
        .where({ id: row.id, next_run_at: row.next_run_at })
        .update({ next_run_at: next, last_run_at: lastRunId !== row.last_run_id ? now : row.last_run_at, last_run_id: lastRunId, updated_at: now });
      return stored;
    });
    published.push(...events);
  }
  return published;
}
