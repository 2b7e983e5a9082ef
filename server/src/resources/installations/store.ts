import type { components } from '../../generated/openapi.js';
import { isPostgres, type Executor } from '../../db/database.js';
import { queryRows } from '../../db/statements.js';
import { columnsOf, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';

export type Installation = components['schemas']['Installation'];
export type Channel = components['schemas']['InstallationChannel'];
export type AgentPackage = components['schemas']['AgentPackage'];

/** What an installation records of where its agent comes from and how its runs' input is decided. */
export type InstallationFields = Omit<Installation, 'id' | 'object' | 'agentId' | 'createdAt' | 'updatedAt'>;

type InstallationRow = {
  id: string;
  application_id: string;
  agent_id: string;
  package_name: string;
  package_digest: string;
  source_agent_id: string | null;
  source_application_id: string | null;
  source_version: number | null;
  channel: Channel | null;
  pinned_version: number | null;
  model: string | null;
  input_defaults: string;
  locked_inputs: string;
  sync_error: string | null;
  created_at: string;
  updated_at: string;
};
const COLUMNS = columnsOf<InstallationRow>({
  id: true,
  application_id: true,
  agent_id: true,
  package_name: true,
  package_digest: true,
  source_agent_id: true,
  source_application_id: true,
  source_version: true,
  channel: true,
  pinned_version: true,
  model: true,
  input_defaults: true,
  locked_inputs: true,
  sync_error: true,
  created_at: true,
  updated_at: true,
});

const toInstallation = (row: InstallationRow): Installation => ({
  id: row.id,
  object: 'installation',
  agentId: row.agent_id,
  packageName: row.package_name,
  packageDigest: row.package_digest,
  sourceAgentId: row.source_agent_id,
  sourceApplicationId: row.source_application_id,
  sourceVersion: row.source_version,
  channel: row.channel,
  pinnedVersion: row.pinned_version,
  model: row.model,
  inputDefaults: fromJsonColumn(row.input_defaults, {}),
  lockedInputs: fromJsonColumn(row.locked_inputs, []),
  syncError: row.sync_error,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const fieldColumns = (fields: InstallationFields) => ({
  package_name: fields.packageName,
  package_digest: fields.packageDigest,
  source_agent_id: fields.sourceAgentId,
  source_application_id: fields.sourceApplicationId,
  source_version: fields.sourceVersion,
  channel: fields.channel,
  pinned_version: fields.pinnedVersion,
  model: fields.model,
  input_defaults: toJsonColumn(fields.inputDefaults),
  locked_inputs: toJsonColumn(fields.lockedInputs),
  sync_error: fields.syncError,
});

/** The package an installation's agent holds now. */
export async function installedPackage(db: Executor, id: string): Promise<AgentPackage> {
  const row = await db('installations').where({ id }).first<{ package: string }>('package');
  return JSON.parse(row.package) as AgentPackage;
}

export async function getInstallation(db: Executor, applicationId: string, id: string, options: ReadOptions = {}): Promise<Installation> {
  return toInstallation(await getRow<InstallationRow>(db, 'installations', { id, application_id: applicationId }, 'installation', options, COLUMNS));
}

export async function listInstallations(db: Executor, applicationId: string, filters: PageQuery) {
  const query = db('installations').where({ application_id: applicationId }).select(COLUMNS);
  return listPage<InstallationRow, Installation>(query, filters, { createdAt: 'created_at' }, toInstallation);
}

/** `id` is chosen before the agent is made, which records it. */
export async function insertInstallation(
  db: Executor,
  id: string,
  applicationId: string,
  agentId: string,
  fields: InstallationFields,
  pkg: AgentPackage,
): Promise<Installation> {
  const now = nowIso();
  const row: InstallationRow = { id, application_id: applicationId, agent_id: agentId, ...fieldColumns(fields), created_at: now, updated_at: now };
  await db('installations').insert({ ...row, package: JSON.stringify(pkg) });
  return toInstallation(row);
}

/** `pkg`: the package its agent holds now, when it changed. */
export async function updateInstallation(db: Executor, id: string, fields: InstallationFields, pkg?: AgentPackage): Promise<void> {
  await db('installations')
    .where({ id })
    .update({ ...fieldColumns(fields), ...(pkg ? { package: JSON.stringify(pkg) } : {}), updated_at: nowIso() });
}

export async function deleteInstallation(db: Executor, id: string): Promise<void> {
  await db('installations').where({ id }).delete();
}

/** The installations following a channel of `sourceAgentId`, locked, so two changes of the source apply one after the other. */
export async function followersOf(db: Executor, sourceAgentId: string): Promise<(Installation & { applicationId: string })[]> {
  const query = db('installations').where({ source_agent_id: sourceAgentId }).whereNotNull('channel').orderBy('id').select(COLUMNS);
  if (isPostgres(db)) void query.forUpdate();
  const rows = await queryRows<InstallationRow>(query);
  return rows.map((row) => ({ ...toInstallation(row), applicationId: row.application_id }));
}
