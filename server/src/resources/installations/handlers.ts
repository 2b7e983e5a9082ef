import type { Executor } from '../../db/database.js';
import { queryRows } from '../../db/statements.js';
import type { AuthContext } from '../../auth/identity.js';
import { ProblemError, type ValidationIssue } from '../../problems/problems.js';
import type { AddressPolicy } from '../../security/addresses.js';
import { newId } from '../../util/ids.js';
import { mergePatch } from '../../util/merge-patch.js';
import { defaultsIssues, schemaDefaults } from '../agents/inputs.js';
import { DEFAULT_LIMITS, NO_AUTO_START, deleteAgent, getAgent, getVersion, insertAgent, setAgentStatus, type Agent } from '../agents/store.js';
import { assertCallable, assertConsistent, assertToolsCallable } from '../agents/validation.js';
import { defineHandlers } from '../handler-types.js';
import { agentHasRuns } from '../runs/store.js';
import { unassignEverywhere } from '../tasks/assignees.js';
import { recordEvent } from '../webhooks/outbox.js';
import { assertPackage, contentOf, digestOf, exportPackage } from './packages.js';
import { applyPackage } from './sync.js';
import * as store from './store.js';

const invalid = (errors: ValidationIssue[]) => new ProblemError('validation-error', errors.map((e) => e.detail).join(' '), { errors });
const oneIssue = (pointer: string, detail: string) => invalid([{ pointer, in: 'body', detail }]);

/**
 * The agent to install from: one of this organization's, in an application the caller may act in
 * (its own; any, for an admin key or a person). Another organization's agent is not found.
 */
async function sourceAgent(db: Executor, auth: AuthContext, agentId: string): Promise<{ agent: Agent; applicationId: string }> {
  const row = await db('agents')
    .join('applications', 'applications.id', 'agents.application_id')
    .where({ 'agents.id': agentId, 'applications.organization_id': auth.organizationId })
    .first<{ application_id: string } | undefined>('agents.application_id');
  if (!row) throw new ProblemError('not-found', `No agent with id ${agentId} in this organization.`);
  const person = auth.kind === 'session' || auth.kind === 'personal_token';
  if (row.application_id !== auth.applicationId && !person && !auth.scopes.includes('admin')) {
    throw new ProblemError('forbidden', 'The agent is in another application; only a key with the admin scope, or a member, may install from it.');
  }
  return { agent: await getAgent(db, row.application_id, agentId), applicationId: row.application_id };
}

/** The source version a pin or a channel names now (422 when there is none). */
function versionFor(agent: Agent, pin: { version?: number; channel?: store.Channel | null }, at: string): number {
  if (pin.version !== undefined) {
    if (pin.version > agent.version)
      throw oneIssue(`${at}/version`, `The agent has no version ${String(pin.version)}: its newest is ${String(agent.version)}.`);
    return pin.version;
  }
  if (pin.channel === 'stable') {
    if (agent.stableVersion === null)
      throw oneIssue(`${at}/channel`, "The agent has no stable version yet: its author sets one (updateAgent's stableVersion).");
    return agent.stableVersion;
  }
  return agent.version;
}

/** The editor's defaults fit the schema, and every locked field has a value to hold. */
function assertInputSettings(pkg: store.AgentPackage, defaults: Record<string, unknown>, locked: string[]) {
  const author = schemaDefaults(pkg.inputSchema);
  const errors = [
    ...defaultsIssues(pkg.inputSchema, defaults, '/inputDefaults'),
    ...locked.flatMap((name, i): ValidationIssue[] =>
      Object.hasOwn(defaults, name) || Object.hasOwn(author, name)
        ? []
        : [{ pointer: `/lockedInputs/${String(i)}`, in: 'body', detail: `The locked field "${name}" has no value: give it one in inputDefaults.` }],
    ),
  ];
  if (errors.length) throw invalid(errors);
}

export const installationHandlers = (policy: AddressPolicy) =>
  defineHandlers({
    exportAgentPackage: async ({ db, auth, path }) => {
      const agent = await getAgent(db, auth.applicationId, path.agentId);
      return { status: 200, body: await exportPackage(db, auth.applicationId, agent, await getVersion(db, agent.id, path.version)) };
    },

    listInstallations: async ({ db, auth, query }) => ({ status: 200, body: await store.listInstallations(db, auth.applicationId, query) }),

    getInstallation: async ({ db, auth, path }) => ({ status: 200, body: await store.getInstallation(db, auth.applicationId, path.installationId) }),

    createInstallation: async ({ db, auth, body }) => {
      if (Boolean(body.source) === Boolean(body.package)) {
        throw oneIssue('', 'Install from one of source (an agent of this organization) or package (an exported package), not both and not neither.');
      }
      let pkg: store.AgentPackage;
      let from: Pick<store.InstallationFields, 'sourceAgentId' | 'sourceApplicationId' | 'sourceVersion' | 'channel' | 'pinnedVersion'>;
      if (body.source) {
        if (body.source.version !== undefined && body.source.channel) throw oneIssue('/source', 'Pin a version or follow a channel, not both.');
        const { agent, applicationId } = await sourceAgent(db, auth, body.source.agentId);
        const version = versionFor(agent, body.source, '/source');
        pkg = await exportPackage(db, applicationId, agent, await getVersion(db, agent.id, version));
        const channel = body.source.channel ?? null;
        from = { sourceAgentId: agent.id, sourceApplicationId: applicationId, sourceVersion: version, channel, pinnedVersion: channel ? null : version };
      } else {
        pkg = body.package!;
        assertPackage(pkg, '/package');
        from = { sourceAgentId: null, sourceApplicationId: null, sourceVersion: pkg.source?.version ?? null, channel: null, pinnedVersion: null };
      }
      const inputDefaults = body.inputDefaults ?? {};
      const lockedInputs = body.lockedInputs ?? [];
      assertInputSettings(pkg, inputDefaults, lockedInputs);
      const model = body.model ?? null;
      const spec = {
        name: body.name ?? pkg.name,
        description: pkg.description,
        ...(await contentOf(db, auth.applicationId, pkg, model, body.package ? '/package' : '/source')),
        labels: [],
        limits: DEFAULT_LIMITS,
        autoStart: NO_AUTO_START,
      };
      assertConsistent(spec);
      await assertCallable(spec.url, policy);
      await assertToolsCallable(spec.tools, policy);
      const id = newId('inst');
      const agent = await insertAgent(db, auth.applicationId, spec, id);
      const installation = await store.insertInstallation(
        db,
        id,
        auth.applicationId,
        agent.id,
        { ...from, packageName: pkg.name, packageDigest: pkg.digest ?? digestOf(pkg), model, inputDefaults, lockedInputs, syncError: null },
        pkg,
      );
      await recordEvent(db, auth.applicationId, 'agent.created', agent);
      await recordEvent(db, auth.applicationId, 'installation.created', installation);
      return { status: 201, body: installation, headers: { Location: `/api/v1/installations/${installation.id}` } };
    },

    updateInstallation: async ({ db, auth, path, body, checkIfMatch }) => {
      const current = await store.getInstallation(db, auth.applicationId, path.installationId, { forUpdate: true });
      checkIfMatch(current);
      if (body.version !== undefined && body.channel) throw oneIssue('', 'Pin a version or follow a channel, not both.');
      const fromAgent = current.sourceAgentId !== null;
      if (body.package && fromAgent) throw oneIssue('/package', 'This installation follows an agent: pin a version or follow a channel of it instead.');
      if ((body.version !== undefined || body.channel) && !fromAgent) {
        throw oneIssue(body.channel ? '/channel' : '/version', 'This installation was made from a package: install a newer package instead.');
      }
      const next: store.InstallationFields = {
        ...current,
        model: body.model === undefined ? current.model : body.model,
        inputDefaults: body.inputDefaults === undefined ? current.inputDefaults : mergePatch(current.inputDefaults, body.inputDefaults),
        lockedInputs: body.lockedInputs ?? current.lockedInputs,
      };
      let pkg = await store.installedPackage(db, current.id);
      if (body.package) {
        assertPackage(body.package, '/package');
        pkg = body.package;
        next.sourceVersion = pkg.source?.version ?? null;
      } else if (body.version !== undefined || body.channel) {
        const source = await sourceAgent(db, auth, current.sourceAgentId!).catch((err: unknown) => {
          if (err instanceof ProblemError && err.code === 'not-found')
            throw new ProblemError('conflict', 'The agent this installation comes from was deleted: its other versions cannot be installed.');
          throw err;
        });
        const version = versionFor(source.agent, body, '');
        pkg = await exportPackage(db, source.applicationId, source.agent, await getVersion(db, source.agent.id, version));
        Object.assign(next, { sourceVersion: version, channel: body.channel ?? null, pinnedVersion: body.channel ? null : version, syncError: null });
      }
      assertInputSettings(pkg, next.inputDefaults, next.lockedInputs);
      if (body.package) {
        const content = await contentOf(db, auth.applicationId, pkg, next.model, '/package');
        await assertCallable(content.url, policy);
        await assertToolsCallable(content.tools, policy);
      }
      await applyPackage(db, auth.applicationId, current.agentId, pkg, next.model, '/package');
      Object.assign(next, { packageName: pkg.name, packageDigest: pkg.digest ?? digestOf(pkg) });
      await store.updateInstallation(db, current.id, next, pkg);
      const installation = await store.getInstallation(db, auth.applicationId, current.id);
      await recordEvent(db, auth.applicationId, 'installation.updated', installation);
      return { status: 200, body: installation };
    },

    deleteInstallation: async ({ db, auth, path, checkIfMatch }) => {
      const current = await store.getInstallation(db, auth.applicationId, path.installationId, { forUpdate: true });
      checkIfMatch(current);
      const [schedules, triggers] = await Promise.all(
        ['schedules', 'triggers'].map(async (table) =>
          Number((await queryRows<{ n: number | string }>(db(table).where({ agent_id: current.agentId }).count({ n: '*' })))[0]!.n),
        ),
      );
      if (schedules || triggers) {
        throw new ProblemError(
          'conflict',
          `The installed agent is started by ${String(schedules)} schedule(s) and ${String(triggers)} trigger(s): delete them before uninstalling.`,
        );
      }
      const agent = await getAgent(db, auth.applicationId, current.agentId, { forUpdate: true });
      await store.deleteInstallation(db, current.id);
      if (await agentHasRuns(db, agent.id)) {
        // Its runs are the record of what it did: the agent stays, retired, and no longer managed.
        await db('agents').where({ id: agent.id }).update({ installation_id: null });
        if (agent.status !== 'retired') {
          await setAgentStatus(db, agent.id, [agent.status], 'retired');
          await recordEvent(db, auth.applicationId, 'agent.retired', await getAgent(db, auth.applicationId, agent.id));
        }
      } else {
        await unassignEverywhere(db, { applicationId: auth.applicationId }, { type: 'agent', id: agent.id });
        await deleteAgent(db, agent.id);
        await recordEvent(db, auth.applicationId, 'agent.deleted', agent);
      }
      await recordEvent(db, auth.applicationId, 'installation.deleted', current);
      return { status: 204, body: undefined };
    },
  });
