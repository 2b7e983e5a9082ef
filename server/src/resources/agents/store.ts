import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { columnsOf, containsPattern, getRow, listPage, type PageQuery, type ReadOptions } from '../../db/lists.js';
import { notFound } from '../../problems/problems.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';

export type Agent = components['schemas']['Agent'];
export type AgentVersion = components['schemas']['AgentVersion'];
export type AgentStatus = Agent['status'];
/** The fields a client sets; everything else the server owns. */
export type AgentSpec = Pick<
  Agent,
  | 'name'
  | 'description'
  | 'instructions'
  | 'model'
  | 'tools'
  | 'secrets'
  | 'connections'
  | 'config'
  | 'inputSchema'
  | 'runtime'
  | 'url'
  | 'labels'
  | 'limits'
  | 'autoStart'
>;

export const DEFAULT_LIMITS: Agent['limits'] = { timeoutSeconds: 600, maxAttempts: 3, maxConcurrentRuns: null };

/** Tasks start no run of an agent unless it says so. */
export const NO_AUTO_START: Agent['autoStart'] = { assigned: false, mentioned: false };

type AgentRow = {
  id: string;
  application_id: string;
  name: string;
  description: string | null;
  instructions: string;
  model: string;
  tools: string;
  secrets: string;
  connections: string;
  config: string;
  input_schema: string | null;
  runtime: Agent['runtime'];
  url: string | null;
  labels: string;
  timeout_seconds: number;
  max_attempts: number;
  max_concurrent_runs: number | null;
  auto_start: string;
  status: AgentStatus;
  version: number;
  stable_version: number | null;
  installation_id: string | null;
  created_at: string;
  updated_at: string;
};

const AGENT_COLUMNS = columnsOf<AgentRow>({
  id: true,
  application_id: true,
  name: true,
  description: true,
  instructions: true,
  model: true,
  tools: true,
  secrets: true,
  connections: true,
  config: true,
  input_schema: true,
  runtime: true,
  url: true,
  labels: true,
  timeout_seconds: true,
  max_attempts: true,
  max_concurrent_runs: true,
  auto_start: true,
  status: true,
  version: true,
  stable_version: true,
  installation_id: true,
  created_at: true,
  updated_at: true,
});

type VersionRow = {
  agent_id: string;
  version: number;
  instructions: string;
  model: string;
  tools: string;
  secrets: string;
  connections: string;
  config: string;
  input_schema: string | null;
  created_at: string;
};

type VersionedColumns = Pick<VersionRow, 'instructions' | 'model' | 'tools' | 'secrets' | 'connections' | 'config' | 'input_schema'>;
export type VersionedFields = Pick<AgentSpec, 'instructions' | 'model' | 'tools' | 'secrets' | 'connections' | 'config' | 'inputSchema'>;

/** The content a version captures, between its columns and its API fields. */
const versionedFields = (row: VersionedColumns): VersionedFields => ({
  instructions: row.instructions,
  model: row.model,
  tools: fromJsonColumn(row.tools, []),
  secrets: fromJsonColumn(row.secrets, []),
  connections: fromJsonColumn(row.connections, []),
  config: fromJsonColumn(row.config, {}),
  inputSchema: fromJsonColumn(row.input_schema, null),
});
const versionedColumns = (spec: VersionedFields): VersionedColumns => ({
  instructions: spec.instructions,
  model: spec.model,
  tools: toJsonColumn(spec.tools),
  secrets: toJsonColumn(spec.secrets),
  connections: toJsonColumn(spec.connections),
  config: toJsonColumn(spec.config),
  input_schema: spec.inputSchema ? toJsonColumn(spec.inputSchema) : null,
});

const toAgent = (row: AgentRow): Agent => ({
  id: row.id,
  object: 'agent',
  name: row.name,
  description: row.description,
  ...versionedFields(row),
  runtime: row.runtime,
  url: row.url,
  labels: fromJsonColumn(row.labels, []),
  limits: { timeoutSeconds: row.timeout_seconds, maxAttempts: row.max_attempts, maxConcurrentRuns: row.max_concurrent_runs },
  autoStart: fromJsonColumn(row.auto_start, NO_AUTO_START),
  status: row.status,
  version: row.version,
  stableVersion: row.stable_version,
  installationId: row.installation_id,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const toVersion = (row: VersionRow): AgentVersion => ({
  object: 'agent_version',
  agentId: row.agent_id,
  version: row.version,
  ...versionedFields(row),
  createdAt: row.created_at,
});

const specColumns = (spec: AgentSpec) => ({
  name: spec.name,
  description: spec.description,
  ...versionedColumns(spec),
  runtime: spec.runtime,
  url: spec.url,
  labels: toJsonColumn(spec.labels),
  timeout_seconds: spec.limits.timeoutSeconds,
  max_attempts: spec.limits.maxAttempts,
  max_concurrent_runs: spec.limits.maxConcurrentRuns,
  auto_start: toJsonColumn(spec.autoStart),
});

/** A change to any versioned field makes a new version. */
const versionedContent = (spec: VersionedFields) => JSON.stringify(versionedColumns(spec));

async function insertVersion(db: Executor, agentId: string, version: number, spec: AgentSpec, at: string) {
  await db('agent_versions').insert({ agent_id: agentId, version, ...versionedColumns(spec), created_at: at });
}

async function replaceLabels(db: Executor, agentId: string, labels: string[]) {
  await db('agent_labels').where({ agent_id: agentId }).delete();
  if (labels.length) await db('agent_labels').insert([...new Set(labels)].map((label) => ({ agent_id: agentId, label })));
}

/** `installationId`: the installation that makes the agent and manages its content. */
export async function insertAgent(db: Executor, applicationId: string, spec: AgentSpec, installationId: string | null = null): Promise<Agent> {
  const now = nowIso();
  const row: AgentRow = {
    id: newId('agent'),
    application_id: applicationId,
    ...specColumns(spec),
    status: 'active',
    version: 1,
    stable_version: null,
    installation_id: installationId,
    created_at: now,
    updated_at: now,
  };
  await db('agents').insert(row);
  await insertVersion(db, row.id, 1, spec, now);
  await replaceLabels(db, row.id, spec.labels);
  return toAgent(row);
}

/** `forUpdate` locks the row until the transaction ends, so a read-check-write cannot interleave. */
export async function getAgent(db: Executor, applicationId: string, id: string, options: ReadOptions = {}): Promise<Agent> {
  return toAgent(await getRow<AgentRow>(db, 'agents', { id, application_id: applicationId }, 'agent', options, AGENT_COLUMNS));
}

export type AgentFilters = PageQuery & { status?: AgentStatus; label?: string; q?: string; createdAfter?: string; createdBefore?: string };

export function listAgents(db: Executor, applicationId: string, filters: AgentFilters) {
  const query = db('agents').where({ application_id: applicationId });
  if (filters.status) query.where({ status: filters.status });
  if (filters.label) query.whereIn('id', db('agent_labels').select('agent_id').where({ label: filters.label }));
  if (filters.q) {
    const pattern = containsPattern(filters.q);
    query.where((q) => {
      q.whereRaw('lower(name) like ? escape ?', [pattern, '\\']).orWhereRaw('lower(description) like ? escape ?', [pattern, '\\']);
    });
  }
  if (filters.createdAfter) query.where('created_at', '>=', new Date(filters.createdAfter).toISOString());
  if (filters.createdBefore) query.where('created_at', '<', new Date(filters.createdBefore).toISOString());
  return listPage(query, filters, { createdAt: 'created_at', updatedAt: 'updated_at', name: { text: 'name' } }, toAgent);
}

/** Saves a new specification; returns the version it now has (a new one if its content changed). */
export async function updateAgent(db: Executor, current: Agent, next: AgentSpec): Promise<number> {
  const now = nowIso();
  const changed = versionedContent(current) !== versionedContent(next);
  const version = changed ? current.version + 1 : current.version;
  await db('agents')
    .where({ id: current.id })
    .update({ ...specColumns(next), version, updated_at: now });
  if (changed) await insertVersion(db, current.id, version, next, now);
  if (JSON.stringify(current.labels) !== JSON.stringify(next.labels)) await replaceLabels(db, current.id, next.labels);
  return version;
}

/** Points the `stable` channel at one of the agent's versions (or none); no new version. */
export async function setStableVersion(db: Executor, id: string, version: number | null): Promise<void> {
  await db('agents').where({ id }).update({ stable_version: version, updated_at: nowIso() });
}

/** Moves the agent to `to` only if it is still in one of `from`; false when another request got there first. */
export async function setAgentStatus(db: Executor, id: string, from: AgentStatus[], to: AgentStatus): Promise<boolean> {
  const count = await db('agents').where({ id }).whereIn('status', from).update({ status: to, updated_at: nowIso() });
  return count === 1;
}

export async function deleteAgent(db: Executor, id: string): Promise<void> {
  await db('agents').where({ id }).delete();
}

/** Newest version first. */
export function listVersions(db: Executor, agentId: string, params: PageQuery) {
  const query = db('agent_versions').where({ agent_id: agentId });
  return listPage(query, { ...params, sort: '-version' }, { version: 'version' }, toVersion, 'version');
}

export async function getVersion(db: Executor, agentId: string, version: number): Promise<AgentVersion> {
  const row = (await db('agent_versions').where({ agent_id: agentId, version }).first()) as VersionRow | undefined;
  if (!row) throw notFound('version of agent', `${agentId} version ${version}`);
  return toVersion(row);
}
