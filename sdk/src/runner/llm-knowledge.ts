import type { Switchboard } from '../client.js';
import { SwitchboardError } from '../errors.js';
import type * as T from '../generated/types.gen.js';
import type { ToolOutcome } from './llm-tools.js';
import type { RunContext } from './run-handler.js';

/**
 * The built-in `search_knowledge` tool of the `llm` runtime: the model searches the knowledge
 * bases the agent bound to the tool (`knowledgeBaseIds`), never others, with the run's token, and
 * gets the hits with their citations to quote. What the server refuses (a base deleted since,
 * invalid arguments) is the tool's result; a run that lost its lease stops.
 */
export const SEARCH_KNOWLEDGE = 'search_knowledge';

const DEFAULT_TOP_K = 5;
const MAX_TOP_K = 10;
/** A hit's text is cut to this many characters, so a few hits stay within a modest share of the context. */
const HIT_CHARS = 1500;

const DESCRIPTION =
  'Searches the knowledge bases you were given (documents cut into passages) and answers the best passages first: each with its citation ' +
  '(doc_...:start-end), document name, heading path, score (0 to 1) and text. Quote what you use with its citation in brackets, e.g. ' +
  '[doc_01jd...:120-480]. No hits means the bases do not say: do not make it up.';

const PARAMETERS: T.JsonObject = {
  type: 'object',
  additionalProperties: false,
  required: ['query'],
  properties: {
    query: { type: 'string', minLength: 1, maxLength: 2000, description: 'What to look for, in words (a question or key words).' },
    topK: { type: 'integer', minimum: 1, maximum: MAX_TOP_K, description: `At most this many passages (default ${String(DEFAULT_TOP_K)}).` },
    filter: {
      type: 'object',
      description:
        'Only documents whose metadata meet all these conditions, by field: a value for equality, or one of ' +
        '{"ne": v}, {"in": [..]}, {"nin": [..]}, {"gt"|"gte"|"lt"|"lte": v}, {"exists": true|false}; e.g. {"lang": "en", "year": {"gte": 2024}}.',
    },
  },
};

export const isSearchKnowledge = (tool: T.AgentTool | undefined): tool is T.AgentTool => tool?.kind === 'builtin' && tool.name === SEARCH_KNOWLEDGE;

/** The tool as the model is offered it: the runtime's description (unless the agent gave one) and arguments. */
export const searchKnowledgeForModel = (tool: T.AgentTool): T.AgentTool => ({
  ...tool,
  description: tool.description ?? DESCRIPTION,
  inputSchema: PARAMETERS,
});

const shorten = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** The model's arguments as a query of the bound bases, or what is wrong with them. */
function queryOf(tool: T.AgentTool, args: Record<string, unknown>): T.KnowledgeQuery | string {
  const { query, topK, filter } = args;
  if (typeof query !== 'string' || !query.trim()) return 'query is required: what to look for, in words.';
  if (topK !== undefined && (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1 || topK > MAX_TOP_K))
    return `topK must be an integer from 1 to ${String(MAX_TOP_K)}.`;
  if (filter !== undefined && (typeof filter !== 'object' || filter === null || Array.isArray(filter)))
    return 'filter must be an object of conditions by field.';
  return {
    knowledgeBaseIds: tool.knowledgeBaseIds ?? [],
    query,
    topK: topK ?? DEFAULT_TOP_K,
    ...(filter ? { filter: filter as T.KnowledgeFilter } : {}),
  };
}

/**
 * Executes one `search_knowledge` call with `api`, a client holding the run's token, on the bases
 * bound to `tool`; `timeoutMs` bounds the request.
 */
export async function searchKnowledge(
  ctx: RunContext,
  api: Switchboard['knowledgeBases'],
  tool: T.AgentTool,
  args: Record<string, unknown>,
  timeoutMs: number,
): Promise<ToolOutcome> {
  const body = queryOf(tool, args);
  if (typeof body === 'string') return { ok: false, error: body };
  try {
    const result = await api.queryMany(body, { signal: ctx.signal, timeout: timeoutMs });
    return {
      ok: true,
      result: {
        hits: result.data.map((hit) => ({
          citation: hit.citation,
          document: hit.documentName,
          headingPath: hit.headingPath,
          score: Math.round(hit.score * 1000) / 1000,
          text: shorten(hit.text, HIT_CHARS),
        })),
        // Only what the result is, no instructions: those are the tool's description, not text beside documents.
        note: result.data.length ? `${String(result.data.length)} passages, best first.` : 'No passage matched.',
      },
    };
  } catch (err) {
    if (!(err instanceof SwitchboardError) || err.status === 401 || err.code === 'lease-lost' || err.code === 'aborted') throw err;
    const unanswered = err.status === 0 || err.status >= 500;
    return {
      ok: false,
      error: err.problem?.detail || err.message,
      details: {
        code: err.code,
        ...(err.problem?.errors?.length ? { errors: err.problem.errors.map((issue) => ({ field: issue.pointer ?? null, detail: issue.detail })) } : {}),
        hint: unanswered ? 'The search did not answer: try again later.' : 'The search was refused.',
      },
    };
  }
}
