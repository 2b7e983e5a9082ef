import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { fromJsonColumn } from '../../util/json-column.js';
import type { Run } from './store.js';

export type RunDispatch = components['schemas']['RunDispatch'];

/** The longest claim long-poll: an idle runner calls at least this often. */
const MAX_CLAIM_WAIT_SECONDS = 30;
/** lastSeenAt is written at most every 5 s; the rest is room for a slow request. */
const SEEN_SLACK_SECONDS = 10;

/**
 * How recently a runner must have called the API to count as online: a live runner long-polls
 * for claims (at most 30 s each) or, when busy, heartbeats its leases (within LEASE_SECONDS).
 */
export const onlineWindowMs = (leaseSeconds: number) => (Math.max(leaseSeconds, MAX_CLAIM_WAIT_SECONDS) + SEEN_SLACK_SECONDS) * 1000;

const list = (labels: string[]) => labels.join(', ');

/** Whether one of the online runners (their label sets) may claim a run of an agent with `required` labels. */
export function dispatchOf(required: string[], online: ReadonlySet<string>[], windowSeconds: number): RunDispatch {
  const requiredLabels = [...required].sort();
  const matchingRunners = online.filter((labels) => requiredLabels.every((l) => labels.has(l))).length;
  const unmatchedLabels = requiredLabels.filter((l) => !online.some((labels) => labels.has(l)));
  const base = { requiredLabels, unmatchedLabels, onlineRunners: online.length, matchingRunners };
  if (matchingRunners > 0) return { claimable: true, reason: null, message: null, ...base };
  if (!online.length) {
    return {
      claimable: false,
      reason: 'no_runner_online',
      message: `No runner is online: none has called the API in the last ${windowSeconds} seconds.`,
      ...base,
    };
  }
  const message =
    unmatchedLabels.length === 1
      ? `No online runner has the label ${unmatchedLabels[0]}, which the agent requires.`
      : unmatchedLabels.length
        ? `No online runner has the labels ${list(unmatchedLabels)}, which the agent requires.`
        : `No online runner has all of the agent's labels (${list(requiredLabels)}) at once.`;
  return { claimable: false, reason: 'no_matching_runner', message, ...base };
}

/** The label sets of the application's runners that called the API within the online window. */
async function onlineRunners(db: Executor, applicationId: string, windowMs: number): Promise<ReadonlySet<string>[]> {
  const since = new Date(Date.now() - windowMs).toISOString();
  const rows = await db('runners').where({ application_id: applicationId }).where('last_seen_at', '>=', since).select<{ labels: string }[]>('labels');
  return rows.map((r) => new Set(fromJsonColumn<string[]>(r.labels, [])));
}

/**
 * The dispatch of a run about to be queued for an agent with these labels: one query, made before
 * the run is inserted, so that no lock the insert takes is held for it.
 */
export async function dispatchForAgent(db: Executor, applicationId: string, labels: string[], leaseSeconds: number): Promise<RunDispatch> {
  const windowMs = onlineWindowMs(leaseSeconds);
  return dispatchOf(labels, await onlineRunners(db, applicationId, windowMs), windowMs / 1000);
}

/**
 * Adds `dispatch` to the queued runs the API returns (the others have `null` from toRun): whether
 * an online runner can take each. One query for the online runners and one for the agents' labels,
 * however many runs there are, and none when no run is queued.
 */
export async function withDispatch(db: Executor, applicationId: string, runs: Run[], leaseSeconds: number): Promise<Run[]> {
  const queued = runs.filter((r) => r.status === 'queued');
  if (!queued.length) return runs;
  const windowMs = onlineWindowMs(leaseSeconds);
  const online = await onlineRunners(db, applicationId, windowMs);
  const agentIds = [...new Set(queued.map((r) => r.agentId))];
  const labelRows = await db('agent_labels').whereIn('agent_id', agentIds).select<{ agent_id: string; label: string }[]>('agent_id', 'label');
  const byAgent = new Map<string, RunDispatch>();
  for (const agentId of agentIds) {
    const required = labelRows.filter((r) => r.agent_id === agentId).map((r) => r.label);
    byAgent.set(agentId, dispatchOf(required, online, windowMs / 1000));
  }
  return runs.map((r) => (r.status === 'queued' ? { ...r, dispatch: byAgent.get(r.agentId)! } : r));
}
