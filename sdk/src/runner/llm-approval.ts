import { SwitchboardError } from '../errors.js';
import type * as T from '../generated/types.gen.js';
import { partText } from './llm-events.js';
import type { ToolCall, Turn } from './llm-conversation.js';
import { isSearchKnowledge, searchKnowledgeForModel } from './llm-knowledge.js';
import { isTaskTool, taskToolForModel } from './llm-tasks.js';
import type { ToolOutcome } from './llm-tools.js';
import type { RunContext } from './run-handler.js';

export const REQUEST_APPROVAL = 'request_approval';

const DESCRIPTION =
  'Ask a person before doing something that needs their approval (a refund, a message sent in their name, a change that cannot be undone), ' +
  'or ask them a question only they can answer (kind "input"). The run waits until they decide, then you get their decision: ' +
  '"approved" with the payload to act on (they may have edited it: act on this one), "rejected" or "changes_requested" with their note, ' +
  '"answered" with their response, or "expired" when nobody decided in time (do not act).';

const PARAMETERS: T.JsonObject = {
  type: 'object',
  additionalProperties: false,
  required: ['title'],
  properties: {
    kind: { type: 'string', enum: ['approval', 'input'], description: '"approval" (the default): may I do this? "input": a question to answer.' },
    title: { type: 'string', maxLength: 200, description: 'What you ask, in one line.' },
    summary: { type: 'string', maxLength: 10000, description: 'Why you ask and what you know, in Markdown.' },
    payload: { type: 'object', description: "Exactly what you will do once approved (e.g. the order and the amount), or the question's details." },
  },
};

/** The agent's tools as the model is offered them: a built-in one with the runtime's description (unless the agent gave one) and arguments. */
export const toolsForModel = (tools: T.AgentTool[]): T.AgentTool[] =>
  tools.map((tool) =>
    isRequestApproval(tool)
      ? { ...tool, description: tool.description ?? DESCRIPTION, inputSchema: PARAMETERS }
      : isTaskTool(tool)
        ? taskToolForModel(tool)
        : isSearchKnowledge(tool)
          ? searchKnowledgeForModel(tool)
          : tool,
  );

export const isRequestApproval = (tool: T.AgentTool | undefined): tool is T.AgentTool => tool?.kind === 'builtin' && tool.name === REQUEST_APPROVAL;

/**
 * What the runtime keeps with its approval to go on where it stopped: the turns it added to the
 * conversation (the one it starts from is rebuilt from the claim), the model calls made so far
 * and the call that asked.
 */
type Checkpoint = { runtime: 'llm'; version: 1; steps: number; callId: string; turns: Turn[] };

/** Turns as a checkpoint keeps them: every text within what one JSON string of it may hold. */
const keptTurns = (turns: Turn[]): Turn[] =>
  turns.map((turn) =>
    turn.role === 'tool'
      ? { ...turn, content: partText(turn.content) }
      : turn.role === 'user'
        ? { ...turn, text: partText(turn.text) }
        : { ...turn, text: partText(turn.text), toolCalls: turn.toolCalls.map((call) => ({ ...call, arguments: partText(call.arguments) })) },
  );

/** Where the run stopped to ask, from the claim that resumes it; undefined when it did not stop in the `llm` runtime. */
export function checkpointOf(resume: T.RunResumption | null): Checkpoint | undefined {
  const kept = resume?.checkpoint as Partial<Checkpoint> | null | undefined;
  if (kept?.runtime !== 'llm' || kept.version !== 1 || !Array.isArray(kept.turns) || typeof kept.callId !== 'string') return undefined;
  return { runtime: 'llm', version: 1, steps: typeof kept.steps === 'number' ? kept.steps : 1, callId: kept.callId, turns: kept.turns };
}

/** How the wait ended, as the model reads it: the decision without who made it. */
export function decisionForModel(resume: T.RunResumption): ToolOutcome {
  const note = resume.decision?.note ? { note: resume.decision.note } : {};
  switch (resume.status) {
    case 'approved':
      return { ok: true, result: { status: 'approved', payload: resume.payload, edited: resume.decision?.editedPayload != null, ...note } };
    case 'answered':
      return { ok: true, result: { status: 'answered', response: resume.decision?.response ?? null, ...note } };
    case 'expired':
      return { ok: true, result: { status: 'expired', note: 'Nobody decided before the request expired: do not act on it.' } };
    default:
      return { ok: true, result: { status: resume.status, ...note } };
  }
}

/** The approval the model asks for: its words, the agent's settings (who decides, expiry, payload schema). */
function requestOf(tool: T.AgentTool, args: Record<string, unknown>): T.ApprovalCreate {
  const settings = tool.approval ?? {};
  const kind = args.kind === 'input' ? 'input' : 'approval';
  return {
    kind,
    title: args.title as string,
    ...(typeof args.summary === 'string' ? { summary: args.summary } : {}),
    ...(args.payload !== undefined ? { payload: args.payload as T.JsonObject } : {}),
    ...(kind === 'approval' ? { payloadSchema: settings.payloadSchema ?? { type: 'object' } } : {}),
    ...(settings.assignees ? { assignees: settings.assignees } : {}),
    ...(settings.expiresInSeconds ? { expiresInSeconds: settings.expiresInSeconds } : {}),
    ...(settings.onExpire ? { onExpire: settings.onExpire } : {}),
  };
}

/**
 * Asks a person for the model's `request_approval` call, keeping the conversation so far (`turns`,
 * the ones this run added) with it: the run waits and this execution ends (`RunWaiting` is
 * thrown). What the server refuses (a title too long, a payload its schema does not take, a
 * conversation too large to keep) is told to the model instead, which may ask again otherwise.
 */
export async function askPerson(
  ctx: RunContext,
  tool: T.AgentTool,
  call: ToolCall,
  args: Record<string, unknown>,
  progress: { steps: number; turns: Turn[] },
): Promise<ToolOutcome> {
  if (typeof args.title !== 'string') return { ok: false, error: 'request_approval needs a title: what you ask, in one line.' };
  const checkpoint: Checkpoint = { runtime: 'llm', version: 1, steps: progress.steps, callId: call.id, turns: keptTurns(progress.turns) };
  try {
    return await ctx.requestApproval({ ...requestOf(tool, args), checkpoint });
  } catch (err) {
    const refused = err instanceof SwitchboardError && err.status >= 400 && err.status < 500 && err.code !== 'lease-lost';
    if (!refused) throw err;
    return { ok: false, error: `The request was refused: ${err.message}` };
  }
}
