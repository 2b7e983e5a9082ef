import type { Executor } from '../../db/database.js';
import { ProblemError, type ValidationIssue } from '../../problems/problems.js';
import { assertAllowedUrl, type AddressPolicy } from '../../security/addresses.js';
import { existingKnowledgeBaseIds } from '../knowledge/store.js';
import { inputSchemaIssues } from './inputs.js';
import type * as store from './store.js';

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
export function assertConsistent(spec: store.AgentSpec) {
  const errors: ValidationIssue[] = [...inputSchemaIssues(spec.inputSchema, '/inputSchema')];
  if (spec.runtime === 'http' && !spec.url) errors.push({ pointer: '/url', in: 'body', detail: 'An agent with runtime "http" needs a url.' });
  if (spec.runtime !== 'http' && spec.url) errors.push({ pointer: '/url', in: 'body', detail: `An agent with runtime "${spec.runtime}" takes no url.` });
  spec.tools.forEach((tool, i) => errors.push(...toolIssues(tool, `/tools/${String(i)}`, spec.secrets)));
  if (errors.length) throw new ProblemError('validation-error', errors.map((e) => e.detail).join(' '), { errors });
}

const ALLOWED_BY = 'Set RUNNER_ALLOW_PRIVATE_ADDRESSES=true to allow it.';

/** An http agent's URL is held to the runner's address rule when it is set, as a webhook endpoint's is; runners check again when they connect. */
export const assertCallable = (url: string | null, policy: AddressPolicy) => (url ? assertAllowedUrl(url, policy, ALLOWED_BY) : Promise.resolve());

/**
 * The same rule for the URLs of http tools, which the runner calls during a run: each URL not among
 * `previous` (the tools before an update) is checked, and every refusal is named at its pointer.
 */
export async function assertToolsCallable(tools: store.AgentSpec['tools'], policy: AddressPolicy, previous: store.AgentSpec['tools'] = []) {
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
export async function assertKnowledgeBound(db: Executor, applicationId: string, tools: store.AgentSpec['tools'], previous: store.AgentSpec['tools'] = []) {
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
