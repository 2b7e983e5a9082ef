import type { RunTokenIdentity } from '../../auth/run-token.js';
import type { Executor } from '../../db/database.js';
import { selectRows } from '../../db/statements.js';
import { fromJsonColumn } from '../../util/json-column.js';
import { getAgent } from '../agents/store.js';
import type { StoredEvent } from '../runs/events.js';
import { queueRun } from '../runs/lifecycle.js';
import { admitNewRun } from '../budgets/admission.js';
import type { TaskComment } from './comments.js';
import type { Task } from './store.js';

/** How deep runs started by runs' comments may go: an agent mentioning another that mentions it back stops there. */
export const MAX_MENTION_DEPTH = 5;

/** `by`: the run whose change starts it, if a run's (`depth` then comes from `childDepth`). */
type Start = { task: Task; agentId: string; reason: 'assigned' | 'mentioned'; comment?: TaskComment; depth: number; by: RunTokenIdentity | undefined };

/**
 * Starts a run of the agent on the task when the agent asks for it (`autoStart`) and can run
 * (an agent that is paused or retired starts nothing, and the change that would have started it
 * still happens), never for the agent of the run that made the change, nor deeper than
 * MAX_MENTION_DEPTH. The run's input is the task (and the comment that mentioned the agent), and
 * the task is what triggered it.
 */
export async function startRunFor(db: Executor, start: Start, leaseSeconds: number): Promise<{ runId: string; events: StoredEvent[] } | undefined> {
  if (start.depth > MAX_MENTION_DEPTH || start.by?.agentId === start.agentId) return undefined;
  const agent = await getAgent(db, start.task.applicationId, start.agentId);
  if (agent.status !== 'active' || !agent.autoStart[start.reason]) return undefined;
  if (start.task.status === 'done' || start.task.status === 'cancelled') return undefined;
  const input = { task: start.task, reason: start.reason, ...(start.comment ? { comment: start.comment } : {}), depth: start.depth };
  // The input is the task, whatever the agent's schema asks of callers: a run that breaks it is cancelled, the task change stands.
  const { run, events, cancelled } = await queueRun(
    db,
    {
      applicationId: start.task.applicationId,
      agentId: agent.id,
      input,
      metadata: { taskId: start.task.id },
      ttlSeconds: undefined,
      endUserId: null,
      triggeredBy: { type: 'task', id: start.task.id },
    },
    leaseSeconds,
    'override',
  );
  if (cancelled) return { runId: run.id, events };
  const over = await admitNewRun(db, run.id, 'record');
  return { runId: run.id, events: [...events, ...(over?.events ?? [])] };
}

/**
 * The depth of a run that a change by `run` starts: 0 for a person's or a key's change, one more
 * than the run's own (the `depth` its task input carries; 0 for a run no task started).
 */
export async function childDepth(db: Executor, run: RunTokenIdentity | undefined): Promise<number> {
  if (!run) return 0;
  const [row] = await selectRows<{ input: string; triggered_by_type: string }>(db, 'select input, triggered_by_type from runs where id = ?', [run.runId]);
  const depth = row?.triggered_by_type === 'task' ? fromJsonColumn<{ depth?: unknown }>(row.input, {}).depth : 0;
  return (typeof depth === 'number' ? depth : 0) + 1;
}
