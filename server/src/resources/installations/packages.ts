import { createHash } from 'node:crypto';
import type { Executor } from '../../db/database.js';
import { queryRows } from '../../db/statements.js';
import { ProblemError, type ValidationIssue } from '../../problems/problems.js';
import type { Agent, AgentSpec, AgentVersion } from '../agents/store.js';
import type { AgentPackage } from './store.js';

export const PACKAGE_FORMAT = 'switchboard.agent/1';

type Tool = AgentSpec['tools'][number];

/** JSON with every object's members in code-point order: the same content always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The digest of everything a package installs (not where it came from, nor the digest itself). */
export function digestOf(pkg: AgentPackage): string {
  const { source: _source, digest: _digest, ...content } = pkg;
  return `sha256:${createHash('sha256').update(canonical(content)).digest('hex')}`;
}

const invalid = (errors: ValidationIssue[]) => new ProblemError('validation-error', errors.map((e) => e.detail).join(' '), { errors });

/** A version as a package: knowledge bases by name instead of id, and a digest over it all. */
export async function exportPackage(
  db: Executor,
  applicationId: string,
  agent: Pick<Agent, 'name' | 'description' | 'runtime' | 'url'>,
  version: AgentVersion,
): Promise<AgentPackage> {
  const ids = [...new Set(version.tools.flatMap((tool) => tool.knowledgeBaseIds ?? []))];
  const bases = ids.length
    ? await queryRows<{ id: string; name: string }>(db('knowledge_bases').where({ application_id: applicationId }).whereIn('id', ids).select('id', 'name'))
    : [];
  const missing = ids.filter((id) => !bases.some((b) => b.id === id));
  if (missing.length) {
    throw new ProblemError(
      'conflict',
      `Version ${String(version.version)} searches knowledge bases that no longer exist (${missing.join(', ')}): it cannot be packaged.`,
    );
  }
  const names = ids.map((id) => bases.find((b) => b.id === id)!.name);
  const pkg: AgentPackage = {
    object: 'agent_package',
    format: PACKAGE_FORMAT,
    name: agent.name,
    description: agent.description,
    runtime: agent.runtime,
    url: agent.url,
    instructions: version.instructions,
    model: version.model,
    tools: version.tools.map(({ knowledgeBaseIds: _ids, ...tool }) => tool),
    secrets: version.secrets,
    connections: version.connections,
    knowledgeBases: [...new Set(names)],
    config: version.config,
    inputSchema: version.inputSchema,
    source: { agentId: version.agentId, version: version.version, exportedAt: new Date().toISOString() },
  };
  return { ...pkg, digest: digestOf(pkg) };
}

/** What makes a package sent to be installed unusable, each issue at its pointer under `at`. */
export function packageIssues(pkg: AgentPackage, at: string): ValidationIssue[] {
  const issue = (pointer: string, detail: string): ValidationIssue => ({ pointer: `${at}${pointer}`, in: 'body', detail });
  const searches = pkg.tools.some((tool) => tool.kind === 'builtin' && tool.name === 'search_knowledge');
  return [
    ...(pkg.digest && pkg.digest !== digestOf(pkg)
      ? [issue('/digest', 'The package does not match its digest: it was changed after it was exported. Leave digest out to install a package edited by hand.')]
      : []),
    ...pkg.tools.flatMap((tool, i) =>
      tool.knowledgeBaseIds
        ? [
            issue(
              `/tools/${String(i)}/knowledgeBaseIds`,
              'A package names the knowledge bases its search_knowledge tool searches in knowledgeBases, never by id.',
            ),
          ]
        : [],
    ),
    ...(searches && !pkg.knowledgeBases.length
      ? [issue('/knowledgeBases', 'The package has a search_knowledge tool: name the knowledge bases it searches.')]
      : []),
    ...(!searches && pkg.knowledgeBases.length
      ? [issue('/knowledgeBases', 'Only a search_knowledge tool searches knowledge bases, and the package has none.')]
      : []),
  ];
}

export function assertPackage(pkg: AgentPackage, at: string): void {
  const errors = packageIssues(pkg, at);
  if (errors.length) throw invalid(errors);
}

/** The agent content a package gives in an application: its knowledge bases found by name there (422 naming any missing or ambiguous). */
export async function contentOf(
  db: Executor,
  applicationId: string,
  pkg: AgentPackage,
  model: string | null,
  at: string,
): Promise<Pick<AgentSpec, 'instructions' | 'model' | 'tools' | 'secrets' | 'connections' | 'config' | 'inputSchema' | 'runtime' | 'url'>> {
  const rows = pkg.knowledgeBases.length
    ? await queryRows<{ id: string; name: string }>(
        db('knowledge_bases').where({ application_id: applicationId }).whereIn('name', pkg.knowledgeBases).select('id', 'name'),
      )
    : [];
  const errors: ValidationIssue[] = [];
  const ids = pkg.knowledgeBases.map((name, i) => {
    const found = rows.filter((r) => r.name === name);
    if (found.length !== 1) {
      errors.push({
        pointer: `${at}/knowledgeBases/${String(i)}`,
        in: 'body',
        detail: found.length
          ? `This application has ${String(found.length)} knowledge bases named "${name}": rename all but one.`
          : `This application has no knowledge base named "${name}", which the package searches: create it first.`,
      });
    }
    return found[0]?.id;
  });
  if (errors.length) throw invalid(errors);
  const bound = (tool: Tool): Tool => (tool.kind === 'builtin' && tool.name === 'search_knowledge' ? { ...tool, knowledgeBaseIds: ids as string[] } : tool);
  return {
    instructions: pkg.instructions,
    model: model ?? pkg.model,
    tools: pkg.tools.map(bound),
    secrets: pkg.secrets,
    connections: pkg.connections,
    config: pkg.config,
    inputSchema: pkg.inputSchema,
    runtime: pkg.runtime,
    url: pkg.url,
  };
}
