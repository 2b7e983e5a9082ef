import type { Executor } from '../../db/database.js';
import { defineHandlers } from '../handler-types.js';
import { ProblemError } from '../../problems/problems.js';
import type { AddressPolicy } from '../../security/addresses.js';
import { mergePatch } from '../../util/merge-patch.js';
import { followChannels } from '../installations/sync.js';
import { assertCallable, assertConsistent, assertKnowledgeBound, assertToolsCallable } from './validation.js';
import { agentHasRuns } from '../runs/store.js';
import { unassignEverywhere } from '../tasks/assignees.js';
import { recordEvent } from '../webhooks/outbox.js';
import { agentMachine } from './state-machine.js';
import * as store from './store.js';

/** What an installation manages: its agent's package content, changed through the installation only. */
const MANAGED = ['instructions', 'model', 'tools', 'secrets', 'connections', 'config', 'inputSchema', 'runtime', 'url'] as const;

function assertUnmanaged(current: store.Agent, next: store.AgentSpec) {
  const changed = MANAGED.filter((field) => JSON.stringify(current[field]) !== JSON.stringify(next[field]));
  if (changed.length) {
    throw new ProblemError(
      'conflict',
      `The agent was installed by ${current.installationId!}, which manages its ${changed.join(', ')}: change the installation (updateInstallation) instead.`,
    );
  }
}

async function transition(db: Executor, applicationId: string, agentId: string, action: 'pause' | 'resume' | 'retire') {
  const current = await store.getAgent(db, applicationId, agentId, { forUpdate: true });
  const { from, to, event } = agentMachine.assertTransition(action, current.status);
  if (!(await store.setAgentStatus(db, current.id, [...from], to))) throw agentMachine.refuse(action, current.status);
  const agent = await store.getAgent(db, applicationId, agentId);
  await recordEvent(db, applicationId, event, agent);
  return { status: 200 as const, body: agent };
}

/** `policy`: which addresses http agents may be called on (RUNNER_ALLOW_PRIVATE_ADDRESSES). */
export const agentHandlers = (policy: AddressPolicy) =>
  defineHandlers({
    listAgents: async ({ db, auth, query }) => ({ status: 200, body: await store.listAgents(db, auth.applicationId, query) }),

    createAgent: async ({ db, auth, body }) => {
      const spec: store.AgentSpec = {
        name: body.name,
        description: body.description ?? null,
        instructions: body.instructions ?? '',
        model: body.model,
        tools: body.tools ?? [],
        secrets: body.secrets ?? [],
        connections: body.connections ?? [],
        config: body.config ?? {},
        inputSchema: body.inputSchema ?? null,
        runtime: body.runtime ?? 'runner',
        url: body.url ?? null,
        labels: body.labels ?? [],
        limits: { ...store.DEFAULT_LIMITS, ...body.limits },
        autoStart: body.autoStart ?? store.NO_AUTO_START,
      };
      assertConsistent(spec);
      await assertCallable(spec.url, policy);
      await assertToolsCallable(spec.tools, policy);
      await assertKnowledgeBound(db, auth.applicationId, spec.tools);
      const agent = await store.insertAgent(db, auth.applicationId, spec);
      await recordEvent(db, auth.applicationId, 'agent.created', agent);
      return { status: 201, body: agent, headers: { Location: `/api/v1/agents/${agent.id}` } };
    },

    getAgent: async ({ db, auth, path }) => ({ status: 200, body: await store.getAgent(db, auth.applicationId, path.agentId) }),

    updateAgent: async ({ db, auth, path, body, checkIfMatch }) => {
      const current = await store.getAgent(db, auth.applicationId, path.agentId, { forUpdate: true });
      checkIfMatch(current);
      agentMachine.assertTransition('update', current.status);
      const { stableVersion, ...patch } = body;
      const { name, description, instructions, model, tools, secrets, connections, config, inputSchema, runtime, url, labels, limits, autoStart } = current;
      const merged = mergePatch(
        { name, description, instructions, model, tools, secrets, connections, config, runtime, url, labels, limits, autoStart },
        patch,
      );
      // A merge patch removes what it sets to null; for nullable fields that means null. A schema is replaced whole.
      const next: store.AgentSpec = {
        ...merged,
        inputSchema: patch.inputSchema === undefined ? inputSchema : patch.inputSchema,
        description: merged.description ?? null,
        url: merged.url ?? null,
        limits: { ...merged.limits, maxConcurrentRuns: merged.limits.maxConcurrentRuns ?? null },
      };
      if (current.installationId) assertUnmanaged(current, next);
      assertConsistent(next);
      if (next.url !== current.url) await assertCallable(next.url, policy);
      await assertToolsCallable(next.tools, policy, current.tools);
      await assertKnowledgeBound(db, auth.applicationId, next.tools, current.tools);
      const version = await store.updateAgent(db, current, next);
      if (stableVersion !== undefined && stableVersion !== current.stableVersion) {
        if (stableVersion !== null && stableVersion > version) {
          const detail = `The agent has no version ${String(stableVersion)}: its newest is ${String(version)}.`;
          throw new ProblemError('validation-error', detail, { errors: [{ pointer: '/stableVersion', in: 'body', detail }] });
        }
        await store.setStableVersion(db, current.id, stableVersion);
      }
      const agent = await store.getAgent(db, auth.applicationId, current.id);
      await recordEvent(db, auth.applicationId, 'agent.updated', agent);
      await followChannels(db, agent);
      return { status: 200, body: agent };
    },

    deleteAgent: async ({ db, auth, path, checkIfMatch }) => {
      const current = await store.getAgent(db, auth.applicationId, path.agentId, { forUpdate: true });
      checkIfMatch(current);
      if (current.installationId) {
        throw new ProblemError('conflict', `The agent was installed by ${current.installationId}: uninstall it (deleteInstallation) instead.`);
      }
      if (await agentHasRuns(db, current.id)) {
        throw new ProblemError('conflict', 'The agent has runs, which are the record of what it did; retire it instead of deleting it.');
      }
      await unassignEverywhere(db, { applicationId: auth.applicationId }, { type: 'agent', id: current.id });
      await store.deleteAgent(db, current.id);
      await recordEvent(db, auth.applicationId, 'agent.deleted', current);
      return { status: 204, body: undefined };
    },

    pauseAgent: ({ db, auth, path }) => transition(db, auth.applicationId, path.agentId, 'pause'),
    resumeAgent: ({ db, auth, path }) => transition(db, auth.applicationId, path.agentId, 'resume'),
    retireAgent: ({ db, auth, path }) => transition(db, auth.applicationId, path.agentId, 'retire'),

    listAgentVersions: async ({ db, auth, path, query }) => {
      const agent = await store.getAgent(db, auth.applicationId, path.agentId);
      return { status: 200, body: await store.listVersions(db, agent.id, query) };
    },

    getAgentVersion: async ({ db, auth, path }) => {
      const agent = await store.getAgent(db, auth.applicationId, path.agentId);
      return { status: 200, body: await store.getVersion(db, agent.id, path.version) };
    },
  });
