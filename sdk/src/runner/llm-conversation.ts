import { RunFailure } from './run-handler.js';

/** A tool call the model made; `arguments` is the JSON text it sent (not always valid JSON). */
export type ToolCall = { id: string; name: string; arguments: string };

/** One turn of a conversation, in neither provider's format: each wire format writes it its own way. */
export type Turn =
  | { role: 'user'; text: string }
  | { role: 'assistant'; text: string; toolCalls: ToolCall[] }
  | { role: 'tool'; callId: string; name: string; content: string; isError: boolean };

export type Conversation = { system: string; turns: Turn[] };

/** What one model call produced; `finishReason` in OpenAI's words (`stop`, `length`, `tool_calls`, ...). */
export type ModelStep = { text: string; toolCalls: ToolCall[]; finishReason: string };

const invalid = (detail: string) => new RunFailure('invalid_input', `input.messages ${detail}`);

/** A message's content: a string, or OpenAI's list of parts of which only text parts are taken. */
function textOf(content: unknown, i: number): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part: unknown) => {
        const { type, text } = (part ?? {}) as { type?: unknown; text?: unknown };
        if (type !== 'text' || typeof text !== 'string') throw invalid(`[${String(i)}] has a content part that is not text.`);
        return text;
      })
      .join('');
  }
  throw invalid(`[${String(i)}] needs a content string.`);
}

/**
 * The conversation a run starts with: the agent version's instructions as the system prompt, then
 * the run's input: its `messages` (chat messages with role `system`, `user` or `assistant`;
 * system ones join the system prompt), else its `prompt` or `text` string, else the whole input
 * as JSON, as the user's message.
 */
export function conversationFromRun(instructions: string, input: Record<string, unknown>): Conversation {
  const system = instructions ? [instructions] : [];
  const turns: Turn[] = [];
  if (input.messages !== undefined) {
    if (!Array.isArray(input.messages) || input.messages.length === 0) throw invalid('must be a non-empty list of chat messages.');
    input.messages.forEach((message: unknown, i) => {
      const { role, content } = (message ?? {}) as { role?: unknown; content?: unknown };
      const text = textOf(content, i);
      if (role === 'system') system.push(text);
      else if (role === 'user') turns.push({ role: 'user', text });
      else if (role === 'assistant') turns.push({ role: 'assistant', text, toolCalls: [] });
      else throw invalid(`[${String(i)}] has role ${JSON.stringify(role)}; expected system, user or assistant.`);
    });
    if (!turns.some((turn) => turn.role === 'user')) throw invalid('has no user message.');
  } else if (typeof input.prompt === 'string') {
    turns.push({ role: 'user', text: input.prompt });
  } else if (typeof input.text === 'string') {
    turns.push({ role: 'user', text: input.text });
  } else {
    turns.push({ role: 'user', text: JSON.stringify(input) });
  }
  return { system: system.join('\n\n'), turns };
}
