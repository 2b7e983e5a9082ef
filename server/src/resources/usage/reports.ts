import type { RunTokenIdentity } from '../../auth/run-token.js';
import type { Executor } from '../../db/database.js';
import type { components } from '../../generated/openapi.js';
import { getVersion } from '../agents/store.js';
import { pricingOf, type ModelRow } from '../models/store.js';
import type { RunRow } from '../runs/store.js';
import { runAttribution } from './attribution.js';
import { costMicros } from './pricing.js';
import { findUsage, recordUsage, type UsageRow } from './store.js';

export type RunUsageReport = components['schemas']['RunUsageReport'];
type RunComplete = components['schemas']['RunComplete'];
export type ReportingRun = Pick<RunTokenIdentity, 'runId' | 'applicationId' | 'agentId' | 'agentVersion' | 'endUserId'>;

/**
 * The cost of a run's own call: what the run says it cost, else the price of the model alias it
 * names (null, unpriced, when the application has no such alias or the alias has no price for
 * what was used). A report without any count and without a cost is unreported.
 */
async function costOfReport(db: Executor, applicationId: string, report: RunUsageReport): Promise<number | null> {
  if (report.costMicros !== undefined) return report.costMicros;
  const model = await db('models').where({ application_id: applicationId, alias: report.model }).first<Pick<ModelRow, 'pricing'> | undefined>('pricing');
  return model ? costMicros(pricingOf(model), report) : null;
}

/**
 * Records a run's report of a call it made itself, once per run and `requestId` (`key`: the
 * ledger's request id, when the server reports for the run); `created` is false when it was
 * already recorded (the first entry is returned).
 */
export async function recordRunReport(
  db: Executor,
  run: ReportingRun,
  report: RunUsageReport,
  requestId = `${run.runId}:${report.requestId}`,
): Promise<{ row: UsageRow; created: boolean }> {
  const existing = await findUsage(db, requestId);
  if (existing) return { row: existing, created: false };
  const reported = report.inputTokens !== undefined || report.outputTokens !== undefined || report.costMicros !== undefined;
  const row = await recordUsage(db, {
    ...(await runAttribution(db, run)),
    requestId,
    source: 'runner_report',
    modelId: null,
    alias: report.model,
    providerId: null,
    provider: report.provider ?? null,
    upstreamModel: null,
    api: 'runner',
    outcome: 'succeeded',
    streamed: false,
    usageReported: reported,
    inputTokens: report.inputTokens ?? null,
    outputTokens: report.outputTokens ?? null,
    cachedInputTokens: report.cachedInputTokens ?? null,
    audioSeconds: null,
    costMicros: await costOfReport(db, run.applicationId, report),
    attempts: 1,
    fallbacksUsed: 0,
    latencyMs: 0,
    firstByteMs: null,
    upstreamStatus: null,
    errorCode: null,
  });
  return row ? { row, created: true } : { row: (await findUsage(db, requestId))!, created: false };
}

/**
 * What `completeRun` says the runner's own calls used (before reports existed, the only way to
 * say it): one more report, under the agent version's model, recorded once per run.
 */
export async function reportOnCompletion(db: Executor, run: RunRow, body: Pick<RunComplete, 'usage' | 'costMicros'>): Promise<void> {
  const { model } = await getVersion(db, run.agent_id, run.agent_version);
  const report: RunUsageReport = {
    requestId: 'completion',
    model,
    ...(body.usage ? { inputTokens: body.usage.inputTokens, outputTokens: body.usage.outputTokens } : {}),
    ...(body.costMicros !== undefined ? { costMicros: body.costMicros } : {}),
  };
  const reporting = { runId: run.id, applicationId: run.application_id, agentId: run.agent_id, agentVersion: run.agent_version, endUserId: run.end_user_id };
  await recordRunReport(db, reporting, report, `${run.id}#completion`);
}
