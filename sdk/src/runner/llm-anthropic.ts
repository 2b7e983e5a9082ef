import type { Conversation, ToolCall, Turn } from './llm-conversation.js';
import { eventJson, parametersOf, sampling, type WireFormat } from './llm-wire.js';
import { RunFailure } from './run-handler.js';

/** Anthropic requires `max_tokens`; this is used when the agent's config sets no `maxTokens`. */
const DEFAULT_MAX_TOKENS = 4096;

const parseInput = (json: string): unknown => {
  try {
    return json ? JSON.parse(json) : {};
  } catch {
    return {};
  }
};

type Block = Record<string, unknown>;

/** A turn's content blocks: text, tool_use blocks on the assistant's side, tool_result blocks on the user's. */
function blocks(turn: Turn): { role: 'user' | 'assistant'; content: Block[] } {
  if (turn.role === 'user') return { role: 'user', content: [{ type: 'text', text: turn.text }] };
  if (turn.role === 'tool')
    return { role: 'user', content: [{ type: 'tool_result', tool_use_id: turn.callId, content: turn.content, is_error: turn.isError }] };
  return {
    role: 'assistant',
    content: [
      ...(turn.text ? [{ type: 'text', text: turn.text }] : []),
      ...turn.toolCalls.map((call) => ({ type: 'tool_use', id: call.id, name: call.name, input: parseInput(call.arguments) })),
    ],
  };
}

/** The conversation as messages, consecutive turns of one role merged (all results of one step go back in one user message). */
function messages(conversation: Conversation) {
  const merged: { role: 'user' | 'assistant'; content: Block[] }[] = [];
  for (const turn of conversation.turns) {
    const message = blocks(turn);
    const last = merged.at(-1);
    if (last?.role === message.role) last.content.push(...message.content);
    else merged.push(message);
  }
  return merged;
}

const STOP_REASONS: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/**
 * Anthropic's messages, streamed: named events (`message_start`, `content_block_start`, text and
 * `input_json_delta` deltas, `content_block_stop`, `message_delta` with the stop reason,
 * `message_stop`), and `error` when the provider fails mid-stream.
 */
export const anthropicMessages: WireFormat = {
  path: '/v1/messages',
  headers: { 'anthropic-version': '2023-06-01' },
  body: (model, conversation, tools, config) => ({
    model,
    stream: true,
    max_tokens: DEFAULT_MAX_TOKENS,
    ...sampling(config),
    ...(conversation.system ? { system: conversation.system } : {}),
    messages: messages(conversation),
    ...(tools.length ? { tools: tools.map((tool) => ({ name: tool.name, description: tool.description, input_schema: parametersOf(tool) })) } : {}),
  }),

  reader(onText) {
    let text = '';
    let stopReason = '';
    const calls = new Map<number, ToolCall>();
    return {
      onEvent(event) {
        const data = eventJson(event);
        switch (data.type) {
          case 'content_block_start': {
            const block = data.content_block as { type?: string; id?: string; name?: string };
            if (block.type === 'tool_use')
              calls.set(data.index as number, { id: block.id ?? `toolu_${String(calls.size)}`, name: block.name ?? '', arguments: '' });
            return false;
          }
          case 'content_block_delta': {
            const delta = data.delta as { type?: string; text?: string; partial_json?: string };
            if (delta.type === 'text_delta' && delta.text) {
              text += delta.text;
              onText(delta.text);
            }
            const call = calls.get(data.index as number);
            if (delta.type === 'input_json_delta' && call) call.arguments += delta.partial_json ?? '';
            return false;
          }
          case 'message_delta':
            stopReason = (data.delta as { stop_reason?: string } | undefined)?.stop_reason ?? stopReason;
            return false;
          case 'message_stop':
            return true;
          case 'error':
            throw new RunFailure('model_error', (data.error as { message?: string } | undefined)?.message ?? 'The model failed mid-stream.');
          default:
            return false;
        }
      },
      result: () => ({
        text,
        toolCalls: [...calls.values()].map((call) => ({ ...call, arguments: call.arguments || '{}' })),
        finishReason: STOP_REASONS[stopReason] ?? (stopReason || 'stop'),
      }),
    };
  },

  errorMessage(body) {
    const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
    return typeof message === 'string' ? message : undefined;
  },
};
