import type { Conversation, ToolCall } from './llm-conversation.js';
import { eventJson, parametersOf, sampling, type WireFormat } from './llm-wire.js';
import { RunFailure } from './run-handler.js';

/** The conversation as chat completion messages: tool calls on the assistant's message, each result a `tool` message. */
function messages(conversation: Conversation) {
  return [
    ...(conversation.system ? [{ role: 'system', content: conversation.system }] : []),
    ...conversation.turns.map((turn) => {
      if (turn.role === 'user') return { role: 'user', content: turn.text };
      if (turn.role === 'tool') return { role: 'tool', tool_call_id: turn.callId, content: turn.content };
      return {
        role: 'assistant',
        content: turn.text || null,
        ...(turn.toolCalls.length
          ? { tool_calls: turn.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })) }
          : {}),
      };
    }),
  ];
}

type ChunkChoice = {
  delta?: { content?: string | null; tool_calls?: { index: number; id?: string; function?: { name?: string; arguments?: string } }[] };
  finish_reason?: string | null;
};

/** OpenAI's chat completions, streamed: `data:` chunks whose deltas carry text and pieces of tool calls, then `[DONE]`. */
export const openaiChat: WireFormat = {
  path: '/chat/completions',
  headers: {},
  body: (model, conversation, tools, config) => ({
    model,
    stream: true,
    messages: messages(conversation),
    ...(tools.length
      ? { tools: tools.map((tool) => ({ type: 'function', function: { name: tool.name, description: tool.description, parameters: parametersOf(tool) } })) }
      : {}),
    ...sampling(config),
  }),

  reader(onText) {
    let text = '';
    let finishReason = '';
    const calls: ToolCall[] = [];
    return {
      onEvent(event) {
        if (event.data === '[DONE]') return true;
        const chunk = eventJson(event);
        const error = chunk.error as { message?: unknown } | undefined;
        if (error) throw new RunFailure('model_error', typeof error.message === 'string' ? error.message : JSON.stringify(error));
        // The usage chunk (choices: []) and any other choice than the first carry nothing to read.
        const choice = (chunk.choices as ChunkChoice[] | undefined)?.[0];
        if (!choice) return false;
        const content = choice.delta?.content;
        if (content) {
          text += content;
          onText(content);
        }
        for (const piece of choice.delta?.tool_calls ?? []) {
          const call = (calls[piece.index] ??= { id: '', name: '', arguments: '' });
          if (piece.id) call.id = piece.id;
          if (piece.function?.name) call.name += piece.function.name;
          if (piece.function?.arguments) call.arguments += piece.function.arguments;
        }
        if (choice.finish_reason) finishReason = choice.finish_reason;
        return false;
      },
      // Some compatible servers leave tool calls without an id: one is made up so results can name their call.
      result: () => ({
        text,
        toolCalls: calls.filter(Boolean).map((call, i) => ({ ...call, id: call.id || `call_${String(i)}` })),
        finishReason: finishReason || 'stop',
      }),
    };
  },

  errorMessage(body) {
    const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
    return typeof message === 'string' ? message : undefined;
  },
};
