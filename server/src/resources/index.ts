import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { checkConnection, type Db } from '../db/database.js';
import type { Handlers } from './handler-types.js';
import type { StreamRegistry } from '../realtime/sse.js';
import type { Drain } from '../util/drain.js';
import type { BundledSpec } from '../spec/load-spec.js';
import { agentHandlers } from './agents/handlers.js';
import { modelProviderHandlers } from './model-providers/handlers.js';
import { modelHandlers } from './models/handlers.js';
import { gatewayHandlers } from './gateway/handlers.js';
import { apiKeyHandlers } from './api-keys/handlers.js';
import { applicationHandlers } from './applications/handlers.js';
import { organizationHandlers } from './organization/handlers.js';
import { runnerHandlers } from './runners/handlers.js';
import type { RunEventBus } from './runs/events.js';
import { runHandlers } from './runs/handlers.js';
import { scheduleHandlers } from './schedules/handlers.js';
import { streamHandlers } from './streams/handlers.js';
import { triggerHandlers } from './triggers/handlers.js';
import { webhookHandlers } from './webhooks/handlers.js';
import { audioTranscriptionHandlers } from './transcriptions/passthrough.js';
import { transcriptionHandlers } from './transcriptions/handlers.js';
import { uploadHandlers } from './uploads/handlers.js';
import type { Sealer } from '../security/sealer.js';
import type { MasterKeys } from '../security/rewrap.js';
import type { RunTokens } from '../auth/run-token.js';
import { systemHandlers } from './system/handlers.js';
import { versionHandlers } from './versions/handlers.js';
import { threadHandlers } from './threads/handlers.js';
import { approvalHandlers } from './approvals/handlers.js';
import { taskHandlers } from './tasks/handlers.js';
import { goalHandlers } from './goals/handlers.js';
import { projectHandlers } from './projects/handlers.js';
import { knowledgeHandlers } from './knowledge/handlers.js';
import { connectionHandlers } from './connections/handlers.js';
import { installationHandlers } from './installations/handlers.js';
import { useConnectionSettings } from './connections/settings.js';
import { retiredWaitHandlers } from './approvals/retired.js';
import { createLoginLimiter, type LoginLimiter } from '../auth/login-limiter.js';
import { userHandlers } from './users/handlers.js';
import { metricsHandlers } from './system/metrics.js';
import type { Metrics } from '../observability/metrics.js';
import type { MetricsExposition } from '../observability/exposition.js';
import { memberHandlers } from './members/handlers.js';
import { invitationHandlers } from './invitations/handlers.js';
import { personalTokenHandlers } from './personal-tokens/handlers.js';
import { endUserHandlers } from './end-users/handlers.js';
import type { EndUserTokens } from '../auth/end-user-tokens.js';
import type { AuditChainer } from './audit/chainer.js';
import { auditHandlers } from './audit/handlers.js';
import { costHandlers } from './costs/handlers.js';
import { budgetHandlers } from './budgets/handlers.js';
import { secretHandlers } from './secrets/handlers.js';
import { dashboardHandlers } from './dashboard/handlers.js';
import { usageHandlers } from './usage/handlers.js';
import type { Versioning } from '../versions/versioning.js';

/** `db`: the pool, for the readiness probe only; handlers get theirs from the request. */
export type HandlerDeps = {
  spec: BundledSpec;
  db: Db;
  bus: RunEventBus;
  config: Config;
  logger: Logger;
  streams: StreamRegistry;
  sealer: Sealer;
  runTokens: RunTokens;
  endUserTokens: EndUserTokens;
  /** Failed logins per account and address; a replica-local one unless given (the server shares it through Redis). */
  loginLimiter?: LoginLimiter;
  /** Chains the audit log; its readers catch it up first. */
  auditChainer: AuditChainer;
  versioning: Versioning;
  /** What the master key re-wrapping pass last found, for the readiness probe. */
  masterKeys: () => MasterKeys | undefined;
  /** A replica's stop: readiness fails, long-polls and streams end early. */
  drain?: Drain;
  /** Recorders of the claim and gateway metrics, and `GET /metrics` on the API's port; absent when metrics are off. */
  metrics?: { recorders: Metrics; exposition: MetricsExposition };
};

/**
 * Every operation of the spec, and nothing else: a missing or extra key is a compile error; and
 * the operations a version removed, for the versions before it (versions/retired.ts).
 */
export function allHandlers(deps: HandlerDeps): Handlers {
  const { spec, db, bus, config, logger, streams, sealer, runTokens, endUserTokens, loginLimiter, auditChainer, versioning, masterKeys, drain, metrics } = deps;
  useConnectionSettings(config.connections);
  const current = {
    ...systemHandlers(
      spec,
      versioning,
      () => checkConnection(db),
      masterKeys,
      () => drain?.draining ?? false,
    ),
    ...metricsHandlers(metrics?.exposition),
    ...versionHandlers(versioning),
    ...threadHandlers(bus, config.runs.leaseSeconds),
    ...organizationHandlers(bus, versioning),
    ...auditHandlers(auditChainer),
    ...costHandlers,
    ...budgetHandlers,
    ...secretHandlers(sealer),
    ...dashboardHandlers(config.runs.leaseSeconds),
    ...usageHandlers,
    ...userHandlers(config, loginLimiter ?? createLoginLimiter(config, undefined), versioning.newest),
    ...memberHandlers,
    ...invitationHandlers,
    ...personalTokenHandlers,
    ...endUserHandlers(endUserTokens),
    ...applicationHandlers(bus),
    ...apiKeyHandlers(bus, versioning),
    ...agentHandlers({ allowPrivate: config.runnerAllowPrivateAddresses, allowList: [] }),
    ...installationHandlers({ allowPrivate: config.runnerAllowPrivateAddresses, allowList: [] }),
    ...runHandlers(bus, config.runs.leaseSeconds),
    ...approvalHandlers(bus),
    ...taskHandlers(bus, config.runs.leaseSeconds),
    ...goalHandlers,
    ...projectHandlers,
    ...knowledgeHandlers({ sealer, config, logger }),
    ...connectionHandlers(bus, sealer),
    ...scheduleHandlers,
    ...triggerHandlers(bus, sealer),
    ...webhookHandlers(sealer, config.webhooks.policy, versioning),
    ...modelProviderHandlers(sealer, config.modelProviders.policy),
    ...modelHandlers,
    ...gatewayHandlers({ sealer, policy: config.modelProviders.policy, logger, metrics: metrics?.recorders.gateway }),
    ...uploadHandlers,
    ...transcriptionHandlers,
    ...audioTranscriptionHandlers(sealer, config.modelProviders.policy),
    ...runnerHandlers(bus, config.runs.leaseSeconds, logger, runTokens, sealer, drain?.signal, metrics?.recorders.runs),
    ...streamHandlers(bus, { pingSeconds: config.ssePingSeconds, logger, registry: streams, versioning, stopping: drain?.signal }),
  } satisfies Handlers;
  return Object.assign(current, retiredWaitHandlers(bus));
}
