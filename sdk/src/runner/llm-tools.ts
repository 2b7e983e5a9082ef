import type * as T from '../generated/types.gen.js';
import { CallError, guardedPost } from './guarded-post.js';
import { withSecrets } from './secret-headers.js';
import type { ToolCall } from './llm-conversation.js';
import { RunFailure, type RunContext } from './run-handler.js';

export type ToolOptions = {
  /** Allow tool URLs that resolve to private, loopback or link-local addresses (refused by default). */
  allowPrivateAddresses?: boolean;
  /** Upper bound of one tool call, in milliseconds; the tool's own `timeoutSeconds` (default 30) applies when shorter. */
  timeoutMs?: number;
};

/**
 * What a tool call gave: its result, or why it failed (told to the model, which may try
 * otherwise), with `details` the model can act on (given to it beside `error`).
 */
export type ToolOutcome = { ok: true; result: unknown } | { ok: false; error: string; details?: Record<string, unknown> };

const DEFAULT_TOOL_TIMEOUT_SECONDS = 30;

/** Upper bound of one call of the tool: its own `timeoutSeconds` (default 30), or the runner's when shorter. */
export const toolTimeoutMs = (tool: T.AgentTool, options: ToolOptions) =>
  Math.min(options.timeoutMs ?? Infinity, (tool.timeoutSeconds ?? DEFAULT_TOOL_TIMEOUT_SECONDS) * 1000);

/** The call's arguments as the JSON object a tool is POSTed, or why they are not one. */
export function parseArguments(call: ToolCall): { ok: true; value: Record<string, unknown> } | { ok: false; error: string } {
  try {
    const value: unknown = JSON.parse(call.arguments || '{}');
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return { ok: true, value: value as Record<string, unknown> };
  } catch {
    // Reported below.
  }
  return { ok: false, error: `The arguments are not a JSON object: ${call.arguments.slice(0, 200)}` };
}

/**
 * Executes one tool call of the model: an `http` tool gets the arguments POSTed as JSON to its
 * URL, with its headers (secrets filled in), through the connect-time address guard (no redirects, 1 MiB answer cap, timeout) and its
 * JSON answer is the result. An unknown tool, bad arguments, an error status, a timeout or a
 * connection failure are results the model is told about; a refused address or a tool without a
 * URL are the agent's configuration, and fail the run with `tool_error`.
 */
export async function executeTool(ctx: RunContext, call: ToolCall, options: ToolOptions): Promise<ToolOutcome> {
  const tool = ctx.agent.tools.find((t: T.AgentTool) => t.name === call.name);
  if (!tool) return { ok: false, error: `There is no tool named "${call.name}".` };
  if (tool.kind === 'builtin') return { ok: false, error: `The built-in tool "${tool.name}" is not one this runtime provides.` };
  const args = parseArguments(call);
  if (!args.ok) return args;
  if (!tool.url) throw new RunFailure('tool_error', `The http tool "${tool.name}" has no url.`);
  const timeoutMs = toolTimeoutMs(tool, options);
  let answer: { status: number; body: string };
  try {
    answer = await guardedPost(tool.url, args.value, {
      allowPrivateAddresses: options.allowPrivateAddresses,
      timeoutMs,
      signal: ctx.signal,
      headers: {
        ...withSecrets(tool.headers, ctx.secrets),
        'Switchboard-Run-Id': ctx.run.id,
        'Switchboard-Attempt': String(ctx.run.attempt),
        'Switchboard-Tool-Call-Id': call.id,
      },
      failure: 'tool_error',
    });
  } catch (err) {
    if (!(err instanceof CallError)) throw err;
    if (err.refused) throw new RunFailure('tool_error', `The tool "${tool.name}" is at an address this runner does not call: ${err.message}`);
    return { ok: false, error: err.message };
  }
  if (answer.status < 200 || answer.status >= 300) return { ok: false, error: `The tool answered HTTP ${String(answer.status)}: ${answer.body.slice(0, 500)}` };
  try {
    return { ok: true, result: answer.body ? (JSON.parse(answer.body) as unknown) : null };
  } catch {
    return { ok: true, result: answer.body };
  }
}
