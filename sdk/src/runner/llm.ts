import { Switchboard } from '../client.js';
import type * as T from '../generated/types.gen.js';
import { anthropicMessages } from './llm-anthropic.js';
import { callModel } from './llm-call.js';
import { conversationFromRun, conversationFromThread, messagesOfTurns, type ToolCall } from './llm-conversation.js';
import { deltaBatcher, eventValue } from './llm-events.js';
import { openaiChat } from './llm-openai.js';
import { askPerson, checkpointOf, decisionForModel, isRequestApproval, toolsForModel } from './llm-approval.js';
import { isSearchKnowledge, searchKnowledge } from './llm-knowledge.js';
import { isTaskTool, runTaskTool } from './llm-tasks.js';
import { executeTool, parseArguments, toolTimeoutMs, type ToolOptions, type ToolOutcome } from './llm-tools.js';
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
 * `config.maxSteps` (default 8) model calls were made (then `max_steps`). The built-in tool
 * `request_approval` asks a person and ends the execution with the conversation kept beside the
 * approval; the claim that resumes the run gives it back, and the loop goes on from the decision,
 * as the asking call's result. The built-in task tools (`list_tasks`, `create_task`, `update_task`,
 * `comment_on_task`) call the tasks API with the run token, so their changes are the run's;
 * `search_knowledge` queries the knowledge bases bound to it, with the run token too. Output:
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
    const tools = toolsForModel(agent.tools);
    let step = 0;
    // The task and knowledge tools act as the run: a client with its token, made when the model first calls one.
    const runToken = ctx.runToken;
    let asRun: Switchboard | undefined;
    const traced = ctx.traceparent ? { traceparent: ctx.traceparent } : undefined;
    const runClient = () => (asRun ??= new Switchboard({ baseUrl: options.baseUrl, apiKey: runToken, fetch: options.fetch, headers: traced }));

    const execute = async (call: ToolCall): Promise<ToolOutcome> => {
      const tool = agent.tools.find((t) => t.name === call.name);
      if (!isRequestApproval(tool) && !isTaskTool(tool) && !isSearchKnowledge(tool)) return executeTool(ctx, call, options);
      const args = parseArguments(call);
      if (!args.ok) return args;
      if (isTaskTool(tool)) return runTaskTool(ctx, runClient().tasks, tool.name, args.value, toolTimeoutMs(tool, options));
      if (isSearchKnowledge(tool)) return searchKnowledge(ctx, runClient().knowledgeBases, tool, args.value, toolTimeoutMs(tool, options));
      return askPerson(ctx, tool, call, args.value, { steps: step, turns: conversation.turns.slice(before) });
    };
    const runCalls = async (calls: ToolCall[]) => {
      for (const call of calls) {
        await announce(ctx, call);
        conversation.turns.push(await settle(ctx, call, () => execute(call)));
      }
    };

    try {
      const checkpoint = checkpointOf(ctx.resume);
      if (checkpoint && ctx.resume) {
        // Resumed after asking a person: the conversation as it was, the decision as the asking call's result, then the calls after it.
        conversation.turns.push(...checkpoint.turns);
        step = checkpoint.steps;
        const asked = conversation.turns.findLast((turn) => turn.role === 'assistant');
        const calls = asked?.role === 'assistant' ? asked.toolCalls : [];
        const at = calls.findIndex((call) => call.id === checkpoint.callId);
        const resume = ctx.resume;
        if (at >= 0) {
          conversation.turns.push(await settle(ctx, calls[at]!, async () => decisionForModel(resume)));
          await runCalls(calls.slice(at + 1));
        }
      }
      for (;;) {
        step++;
        const answer = await callModel(wire, {
          baseUrl,
          runToken: ctx.runToken,
          headers: traced,
          body: wire.body(agent.model, conversation, tools, agent.config),
          fetch: doFetch,
          signal: ctx.signal,
          idleTimeoutMs,
          onText: (text) => deltas.push(text),
        });
        await deltas.flush();
        conversation.turns.push({ role: 'assistant', text: answer.text, toolCalls: answer.toolCalls });
        if (answer.toolCalls.length === 0) return { output: { text: answer.text, finishReason: answer.finishReason, steps: step }, ...added() };
        if (step >= maxSteps) throw new RunFailure('max_steps', `The model still called tools after ${String(maxSteps)} steps (config.maxSteps).`);
        await runCalls(answer.toolCalls);
      }
    } finally {
      // Text that came before a failure is kept too; a run that is already lost cannot take it.
      await deltas.flush().catch(() => undefined);
    }
  };
}

/** A tool call, recorded as the model made it. */
async function announce(ctx: RunContext, call: ToolCall) {
  const args = parseArguments(call);
  await ctx.emit('tool.call', { id: call.id, name: call.name, ...eventValue('arguments', args.ok ? args.value : call.arguments) });
}

/** A tool call's outcome (`execute`), recorded and returned as the conversation's tool turn. */
async function settle(ctx: RunContext, call: ToolCall, execute: () => Promise<ToolOutcome>) {
  let outcome;
  try {
    outcome = await execute();
  } catch (err) {
    if (err instanceof RunFailure) await ctx.emit('tool.result', { id: call.id, name: call.name, ok: false, error: err.message });
    throw err;
  }
  await ctx.emit('tool.result', {
    id: call.id,
    name: call.name,
    ok: outcome.ok,
    ...(outcome.ok ? eventValue('result', outcome.result) : { error: outcome.error, ...(outcome.details ? eventValue('details', outcome.details) : {}) }),
  });
  return {
    role: 'tool' as const,
    callId: call.id,
    name: call.name,
    content: outcome.ok ? JSON.stringify(outcome.result) : JSON.stringify({ error: outcome.error, ...outcome.details }),
    isError: !outcome.ok,
  };
}
