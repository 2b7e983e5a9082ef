import type { Executor } from '../../db/database.js';
import { defineHandlers } from '../handler-types.js';
import { ProblemError, type ValidationIssue } from '../../problems/problems.js';
import { assertAllowedUrl, type AddressPolicy } from '../../security/addresses.js';
import { mergePatch } from '../../util/merge-patch.js';
import { existingKnowledgeBaseIds } from '../knowledge/store.js';
import { agentHasRuns } from '../runs/store.js';
import { unassignEverywhere } from '../tasks/assignees.js';
import { recordEvent } from '../webhooks/outbox.js';
import { agentMachine } from './state-machine.js';
import * as store from './store.js';

const DEFAULT_LIMITS = { timeoutSeconds: 600, maxAttempts: 3, maxConcurrentRuns: null };

/** The tools the `llm` runtime provides (AgentTool `kind: builtin`): asking a person, working on the application's tasks as the run, searching knowledge bases. */
const BUILTIN_TOOLS = ['request_approval', 'list_tasks', 'create_task', 'update_task', 'comment_on_task', 'search_knowledge'];

/** `{{secrets.NAME}}` in an http tool's header, which the runner fills in from the claim's secrets. */
const SECRET_TEMPLATE = /\{\{\s*secrets\.([A-Z][A-Z0-9_]{0,63})\s*\}\}/g;

/**
 * An http tool is called at its url; a built-in one is the runtime's, named by its name. Only
 * `request_approval` takes `approval` settings, only `search_knowledge` the bases it searches (and needs them).
 */
function toolIssues(tool: store.AgentSpec['tools'][number], at: string, secrets: string[]): ValidationIssue[] {
  const issue = (field: string, detail: string): ValidationIssue => ({ pointer: `${at}/${field}`, in: 'body', detail });
  if (tool.kind !== 'builtin') {
    return [
      ...(tool.url ? [] : [issue('url', `The http tool "${tool.name}" needs a url.`)]),
      ...Object.entries(tool.headers ?? {}).flatMap(([header, value]) =>
        [...value.matchAll(SECRET_TEMPLATE)]
          .filter((m) => !secrets.includes(m[1]!))
          .map((m) => issue(`headers/${header}`, `The header ${header} uses secret ${m[1]!}, which the agent does not reference: add it to secrets.`)),
      ),
      ...(tool.approval ? [issue('approval', `The http tool "${tool.name}" takes no approval settings: they are for the built-in request_approval.`)] : []),
      ...(tool.knowledgeBaseIds
        ? [issue('knowledgeBaseIds', `The http tool "${tool.name}" takes no knowledgeBaseIds: they are for the built-in search_knowledge.`)]
        : []),
    ];
  }
  if (!BUILTIN_TOOLS.includes(tool.name))
    return [issue('name', `There is no built-in tool "${tool.name}"; the built-in tools are ${BUILTIN_TOOLS.join(', ')}.`)];
  return [
    ...(tool.url ? [issue('url', `The built-in tool "${tool.name}" takes no url.`)] : []),
    ...(tool.headers ? [issue('headers', `The built-in tool "${tool.name}" takes no headers.`)] : []),
    ...(tool.inputSchema ? [issue('inputSchema', `The built-in tool "${tool.name}" takes no inputSchema: its arguments are the runtime's.`)] : []),
    ...(tool.approval && tool.name !== 'request_approval'
      ? [issue('approval', `The built-in tool "${tool.name}" takes no approval settings: they are for request_approval.`)]
      : []),
    ...(tool.knowledgeBaseIds && tool.name !== 'search_knowledge'
      ? [issue('knowledgeBaseIds', `The built-in tool "${tool.name}" takes no knowledgeBaseIds: they are for search_knowledge.`)]
      : []),
    ...(!tool.knowledgeBaseIds && tool.name === 'search_knowledge'
      ? [issue('knowledgeBaseIds', 'The built-in tool search_knowledge needs knowledgeBaseIds: the knowledge bases it searches.')]
      : []),
  ];
}

/** Rules that span fields, which the schema cannot state. */
function assertConsistent(spec: store.AgentSpec) {
  const errors: ValidationIssue[] = [];
  if (spec.runtime === 'http' && !spec.url) errors.push({ pointer: '/url', in: 'body', detail: 'An agent with runtime "http" needs a url.' });
  if (spec.runtime !== 'http' && spec.url) errors.push({ pointer: '/url', in: 'body', detail: `An agent with runtime "${spec.runtime}" takes no url.` });
  spec.tools.forEach((tool, i) => errors.push(...toolIssues(tool, `/tools/${String(i)}`, spec.secrets)));
  if (errors.length) throw new ProblemError('validation-error', errors.map((e) => e.detail).join(' '), { errors });
}

const ALLOWED_BY = 'Set RUNNER_ALLOW_PRIVATE_ADDRESSES=true to allow it.';

/** An http agent's URL is held to the runner's address rule when it is set, as a webhook endpoint's is; runners check again when they connect. */
const assertCallable = (url: string | null, policy: AddressPolicy) => (url ? assertAllowedUrl(url, policy, ALLOWED_BY) : Promise.resolve());

/**
 * The same rule for the URLs of http tools, which the runner calls during a run: each URL not among
 * `previous` (the tools before an update) is checked, and every refusal is named at its pointer.
 */
async function assertToolsCallable(tools: store.AgentSpec['tools'], policy: AddressPolicy, previous: store.AgentSpec['tools'] = []) {
  const known = new Set(previous.map((tool) => tool.url));
  const checks = tools.map((tool, i) =>
    tool.url && !known.has(tool.url) ? assertAllowedUrl(tool.url, policy, ALLOWED_BY, `/tools/${String(i)}/url`) : Promise.resolve(),
  );
  const refusals = (await Promise.allSettled(checks)).flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
  if (refusals.length === 0) return;
  if (refusals.some((err) => !(err instanceof ProblemError))) throw refusals[0];
  const errors = (refusals as ProblemError[]).flatMap((err) => err.extra.errors ?? []);
  throw new ProblemError('validation-error', errors.map((e) => e.detail).join(' '), { errors });
}

/**
 * The knowledge bases a `search_knowledge` tool is bound to are the application's: each id not
 * among `previous` (the tools before an update) is looked up, and each unknown one named at its pointer.
 */
async function assertKnowledgeBound(db: Executor, applicationId: string, tools: store.AgentSpec['tools'], previous: store.AgentSpec['tools'] = []) {
  const known = new Set(previous.flatMap((tool) => tool.knowledgeBaseIds ?? []));
  const bound = tools.flatMap((tool, i) =>
    (tool.knowledgeBaseIds ?? []).map((id, j) => ({ id, pointer: `/tools/${String(i)}/knowledgeBaseIds/${String(j)}` })),
  );
  const checked = bound.filter((b) => !known.has(b.id));
  const found = await existingKnowledgeBaseIds(db, applicationId, [...new Set(checked.map((b) => b.id))]);
  const errors: ValidationIssue[] = checked
    .filter((b) => !found.has(b.id))
    .map((b) => ({ pointer: b.pointer, in: 'body', detail: `There is no knowledge base ${b.id} in this application.` }));
  if (errors.length) throw new ProblemError('validation-error', errors.map((e) => e.detail).join(' '), { errors });
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
        runtime: body.runtime ?? 'runner',
        url: body.url ?? null,
        labels: body.labels ?? [],
        limits: { ...DEFAULT_LIMITS, ...body.limits },
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
      const { name, description, instructions, model, tools, secrets, connections, config, runtime, url, labels, limits, autoStart } = current;
      const merged = mergePatch({ name, description, instructions, model, tools, secrets, connections, config, runtime, url, labels, limits, autoStart }, body);
      // A merge patch removes what it sets to null; for nullable fields that means null.
      const next: store.AgentSpec = {
        ...merged,
        description: merged.description ?? null,
        url: merged.url ?? null,
        limits: { ...merged.limits, maxConcurrentRuns: merged.limits.maxConcurrentRuns ?? null },
      };
      assertConsistent(next);
      if (next.url !== current.url) await assertCallable(next.url, policy);
      await assertToolsCallable(next.tools, policy, current.tools);
      await assertKnowledgeBound(db, auth.applicationId, next.tools, current.tools);
      await store.updateAgent(db, current, next);
      const agent = await store.getAgent(db, auth.applicationId, current.id);
      await recordEvent(db, auth.applicationId, 'agent.updated', agent);
      return { status: 200, body: agent };
    },

    deleteAgent: async ({ db, auth, path, checkIfMatch }) => {
      const current = await store.getAgent(db, auth.applicationId, path.agentId, { forUpdate: true });
      checkIfMatch(current);
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
