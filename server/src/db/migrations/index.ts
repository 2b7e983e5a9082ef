import type { Knex } from 'knex';
import * as initial from './0001_initial.js';
import * as runs from './0002_runs.js';
import * as schedules from './0003_schedules.js';
import * as triggers from './0004_triggers.js';
import * as idempotencyOwner from './0005_idempotency_owner.js';
import * as webhooks from './0006_webhooks.js';
import * as partialIndexes from './0007_partial_indexes.js';
import * as models from './0008_models.js';
import * as transcriptions from './0010_transcriptions.js';
import * as apiKeyAllowedModels from './0011_api_key_allowed_models.js';
import * as eventSequencer from './0012_event_sequencer.js';
import * as identity from './0013_identity.js';
import * as endUsers from './0014_end_users.js';
import * as audit from './0015_audit.js';
import * as apiVersions from './0016_api_versions.js';
import * as threads from './0017_threads.js';
import * as threadRuns from './0018_thread_runs.js';
import * as threadTtl from './0019_thread_ttl.js';
import * as approvals from './0020_approvals.js';
import * as approvalCheckpoints from './0021_approval_checkpoints.js';
import * as tasks from './0022_tasks.js';
import * as taskCheckouts from './0023_task_checkouts.js';
import * as taskComments from './0024_task_comments.js';
import * as goalsProjects from './0025_goals_projects.js';
import * as usageLedger from './0026_usage_ledger.js';
import * as budgets from './0027_budgets.js';
import * as secrets from './0028_secrets.js';
import * as budgetWaits from './0029_budget_waits.js';
import * as knowledgeBases from './0030_knowledge_bases.js';
import * as knowledgeDocuments from './0031_knowledge_documents.js';
import * as connections from './0032_connections.js';
import * as installations from './0033_installations.js';
import * as connectionRefreshClaims from './0034_connection_refresh_claims.js';
import * as runTraceContext from './0035_run_trace_context.js';

type Migration = { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> };

const migrations: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_runs': runs,
  '0003_schedules': schedules,
  '0004_triggers': triggers,
  '0005_idempotency_owner': idempotencyOwner,
  '0006_webhooks': webhooks,
  '0007_partial_indexes': partialIndexes,
  '0008_models': models,
  '0010_transcriptions': transcriptions,
  '0011_api_key_allowed_models': apiKeyAllowedModels,
  '0012_event_sequencer': eventSequencer,
  '0013_identity': identity,
  '0014_end_users': endUsers,
  '0015_audit': audit,
  '0016_api_versions': apiVersions,
  '0017_threads': threads,
  '0018_thread_runs': threadRuns,
  '0019_thread_ttl': threadTtl,
  '0020_approvals': approvals,
  '0021_approval_checkpoints': approvalCheckpoints,
  '0022_tasks': tasks,
  '0023_task_checkouts': taskCheckouts,
  '0024_task_comments': taskComments,
  '0025_goals_projects': goalsProjects,
  '0026_usage_ledger': usageLedger,
  '0027_budgets': budgets,
  '0028_secrets': secrets,
  '0029_budget_waits': budgetWaits,
  '0030_knowledge_bases': knowledgeBases,
  '0031_knowledge_documents': knowledgeDocuments,
  '0032_connections': connections,
  '0033_installations': installations,
  '0034_connection_refresh_claims': connectionRefreshClaims,
  '0035_run_trace_context': runTraceContext,
};

/** Migrations are listed in code so the compiled server needs no directory scan. */
export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name]!,
};
