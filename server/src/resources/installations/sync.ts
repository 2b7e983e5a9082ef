import type { Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import { agentMachine } from '../agents/state-machine.js';
import { getAgent, getVersion, updateAgent, type Agent, type AgentSpec } from '../agents/store.js';
import { assertConsistent } from '../agents/validation.js';
import { recordEvent } from '../webhooks/outbox.js';
import { contentOf, exportPackage } from './packages.js';
import { followersOf, getInstallation, updateInstallation, type AgentPackage, type Installation, type InstallationFields } from './store.js';

const specOf = (agent: Agent): AgentSpec => ({
  name: agent.name,
  description: agent.description,
  instructions: agent.instructions,
  model: agent.model,
  tools: agent.tools,
  secrets: agent.secrets,
  connections: agent.connections,
  config: agent.config,
  inputSchema: agent.inputSchema,
  runtime: agent.runtime,
  url: agent.url,
  labels: agent.labels,
  limits: agent.limits,
  autoStart: agent.autoStart,
});

/**
 * Gives an installed agent a package's content (a new version when it changes), its knowledge
 * bases found by name in its application; `at` is where a refusal points in the request.
 */
export async function applyPackage(db: Executor, applicationId: string, agentId: string, pkg: AgentPackage, model: string | null, at: string): Promise<Agent> {
  const current = await getAgent(db, applicationId, agentId, { forUpdate: true });
  agentMachine.assertTransition('update', current.status);
  const next = { ...specOf(current), ...(await contentOf(db, applicationId, pkg, model, at)) };
  assertConsistent(next);
  const version = await updateAgent(db, current, next);
  const agent = await getAgent(db, applicationId, agentId);
  if (version !== current.version) await recordEvent(db, applicationId, 'agent.updated', agent);
  return agent;
}

const fieldsOf = ({ id: _id, object: _object, agentId: _agentId, createdAt: _c, updatedAt: _u, ...fields }: Installation): InstallationFields => fields;

/**
 * After a change of `source`, each installation following one of its channels gets the version
 * that channel names now. One that cannot (a knowledge base the version searches is missing in its
 * application, its agent retired) keeps what it has and says why in `syncError`.
 */
export async function followChannels(db: Executor, source: Agent): Promise<void> {
  for (const follower of await followersOf(db, source.id)) {
    const wanted = follower.channel === 'latest' ? source.version : source.stableVersion;
    if (wanted === null || (wanted === follower.sourceVersion && !follower.syncError)) continue;
    const pkg = await exportPackage(db, follower.sourceApplicationId!, source, await getVersion(db, source.id, wanted));
    let fields: InstallationFields;
    try {
      // A savepoint: a refusal leaves nothing of the attempt behind.
      await db.transaction((savepoint) => applyPackage(savepoint, follower.applicationId, follower.agentId, pkg, follower.model, '/package'));
      fields = { ...fieldsOf(follower), sourceVersion: wanted, packageName: pkg.name, packageDigest: pkg.digest!, syncError: null };
    } catch (err) {
      if (!(err instanceof ProblemError)) throw err;
      fields = { ...fieldsOf(follower), syncError: `Version ${String(wanted)} could not be installed: ${err.detail}`.slice(0, 2000) };
    }
    await updateInstallation(db, follower.id, fields, fields.syncError ? undefined : pkg);
    await recordEvent(db, follower.applicationId, 'installation.updated', await getInstallation(db, follower.applicationId, follower.id));
  }
}
