import type * as T from '../generated/types.gen.js';
import { anthropicMessages } from './llm-anthropic.js';
import { callModel } from './llm-call.js';
import { conversationFromRun, conversationFromThread, messagesOfTurns, type ToolCall } from './llm-conversation.js';
import { deltaBatcher, eventValue } from './llm-events.js';
import { openaiChat } from './llm-openai.js';
import { executeTool, parseArguments, type ToolOptions } from './llm-tools.js';
import { RunFailure, type RunContext, type RunOutcome } from './run-handler.js';

export type LlmOptions = ToolOptions & {
  /** The Switchboard server: the gateway is at `/api/v1/llm` under it. */
  baseUrl: string;
  /** Base URL of the OpenAI chat completions protocol (default: the gateway's, `<baseUrl>/api/v1/llm/openai/v1`). */
  openaiBaseUrl?: string;
  /** Base URL of the Anthropic messages protocol (default: the gateway's, `<baseUrl>/api/v1/llm/anthropic`). */
  anthropicBaseUrl?: string;
  fetch?: typeof fetch;
  /** A model call fails with `model_timeout` when nothing arrives for this long; default 120 s (the run's own timeout when shorter). */
  modelIdleTimeoutMs?: number;
  /** Streamed text is sent as `output.delta` events at most this often (default 50 ms) or per this many characters (default 200). */
  deltaIntervalMs?: number;
  deltaMaxChars?: number;
};

const DEFAULT_MAX_STEPS = 8;

function maxStepsOf(config: T.JsonObject): number {
  const value = config.maxSteps;
  if (value === undefined) return DEFAULT_MAX_STEPS;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new RunFailure('invalid_agent', 'config.maxSteps must be a positive integer.');
  return value;
}

/**
 * The `llm` runtime: the agent version's instructions and the run's input make the conversation;
 * each step streams one model call through the Switchboard gateway with the run token (OpenAI chat
 * completions, or Anthropic messages when the model's API is `messages`), sending the text as
 * `output.delta` events. Tool calls are recorded (`tool.call`), executed, recorded
 * (`tool.result`) and their results given back to the model, until it answers without tools or
 * `config.maxSteps` (default 8) model calls were made (then `max_steps`). Output:
 * `{ text, finishReason, steps }`. On a thread, the conversation is the thread's messages, and the
 * run adds its turns (tool calls, their results, the answer) to the thread as it completes. Usage is not reported here: the gateway records every call.
 */
export function llmRuntime(options: LlmOptions) {
  const gateway = `${options.baseUrl.replace(/\/$/, '')}/api/v1/llm`;
  const doFetch = options.fetch ?? fetch;

  return async (ctx: RunContext): Promise<RunOutcome> => {
    if (!ctx.runToken)
      throw new RunFailure(
        'no_run_token',
        'The claim carried no run token, which the llm runtime calls the model gateway with: the server is older than this runner.',
      );
    const agent = ctx.agent;
    const anthropic = agent.modelApi === 'messages';
    const wire = anthropic ? anthropicMessages : openaiChat;
    const baseUrl = anthropic ? (options.anthropicBaseUrl ?? `${gateway}/anthropic`) : (options.openaiBaseUrl ?? `${gateway}/openai/v1`);
    const maxSteps = maxStepsOf(agent.config);
    const idleTimeoutMs = Math.min(options.modelIdleTimeoutMs ?? 120_000, agent.limits.timeoutSeconds * 1000);
    const conversation = ctx.thread
      ? conversationFromThread(agent.instructions, ctx.thread, ctx.run.input)
      : conversationFromRun(agent.instructions, ctx.run.input);
    const before = conversation.turns.length;
    // A thread run adds what it said, and the tools it called, to its thread.
    const added = (): Pick<RunOutcome, 'messages'> => (ctx.thread ? { messages: messagesOfTurns(conversation.turns.slice(before)) } : {});
    const deltas = deltaBatcher((type, data) => ctx.emit(type, data), options.deltaIntervalMs, options.deltaMaxChars);

    try {
      for (let step = 1; ; step++) {
        const answer = await callModel(wire, {
          baseUrl,
          runToken: ctx.runToken,
          body: wire.body(agent.model, conversation, agent.tools, agent.config),
          fetch: doFetch,
          signal: ctx.signal,
          idleTimeoutMs,
          onText: (text) => deltas.push(text),
        });
        await deltas.flush();
        conversation.turns.push({ role: 'assistant', text: answer.text, toolCalls: answer.toolCalls });
        if (answer.toolCalls.length === 0) return { output: { text: answer.text, finishReason: answer.finishReason, steps: step }, ...added() };
        if (step >= maxSteps) throw new RunFailure('max_steps', `The model still called tools after ${String(maxSteps)} steps (config.maxSteps).`);
        for (const call of answer.toolCalls) conversation.turns.push(await runTool(ctx, call, options));
      }
    } finally {
      // Text that came before a failure is kept too; a run that is already lost cannot take it.
      await deltas.flush().catch(() => undefined);
    }
  };
}

/** One tool call: recorded, executed, its outcome recorded and returned as the conversation's tool turn. */
async function runTool(ctx: RunContext, call: ToolCall, options: ToolOptions) {
  const args = parseArguments(call);
  await ctx.emit('tool.call', { id: call.id, name: call.name, ...eventValue('arguments', args.ok ? args.value : call.arguments) });
  let outcome;
  try {
    outcome = await executeTool(ctx, call, options);
  } catch (err) {
    if (err instanceof RunFailure) await ctx.emit('tool.result', { id: call.id, name: call.name, ok: false, error: err.message });
    throw err;
  }
  await ctx.emit('tool.result', {
    id: call.id,
    name: call.name,
    ok: outcome.ok,
    ...(outcome.ok ? eventValue('result', outcome.result) : { error: outcome.error }),
  });
  return {
    role: 'tool' as const,
    callId: call.id,
    name: call.name,
    content: outcome.ok ? JSON.stringify(outcome.result) : JSON.stringify({ error: outcome.error }),
    isError: !outcome.ok,
  };
}
