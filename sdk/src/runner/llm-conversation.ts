import type * as T from '../generated/types.gen.js';
import { fitsJsonObject, partText } from './llm-events.js';
import { parseArguments } from './llm-tools.js';
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

type ThreadMessage = T.ThreadMessage;

const textOfPart = (part: T.ThreadMessagePart): string => (part.type === 'text' ? part.text : part.type === 'data' ? JSON.stringify(part.data) : '');

/** One thread message as turns: tool results become tool turns (named after the call they answer). */
function turnsOf(message: ThreadMessage, toolNames: Map<string, string>): Turn[] {
  const text = message.content.map(textOfPart).join('');
  if (message.role === 'user') return [{ role: 'user', text }];
  if (message.role === 'assistant') {
    const toolCalls = message.content.flatMap((part) =>
      part.type === 'tool_call' ? [{ id: part.id, name: part.name, arguments: JSON.stringify(part.arguments) }] : [],
    );
    for (const call of toolCalls) toolNames.set(call.id, call.name);
    return [{ role: 'assistant', text, toolCalls }];
  }
  return message.content.flatMap((part) =>
    part.type === 'tool_result'
      ? [
          {
            role: 'tool' as const,
            callId: part.toolCallId,
            name: toolNames.get(part.toolCallId) ?? 'tool',
            content: part.content,
            isError: part.isError ?? false,
          },
        ]
      : [],
  );
}

/**
 * The conversation of a run on a thread: the instructions and the thread's `system` messages as
 * the system prompt, its other messages as turns from its first user message on (a claim carries
 * the latest messages, which may start in the middle of a tool exchange). A thread without a user
 * message gives the model the run's input instead, as `conversationFromRun` does (with the
 * thread's system messages).
 */
export function conversationFromThread(instructions: string, thread: T.ClaimedThread, input: Record<string, unknown>): Conversation {
  const systems = thread.messages.filter((m) => m.role === 'system').map((m) => m.content.map(textOfPart).join(''));
  const first = thread.messages.findIndex((m) => m.role === 'user');
  if (first < 0) {
    const fromInput = conversationFromRun(instructions, input);
    return { system: [fromInput.system, ...systems].filter(Boolean).join('\n\n'), turns: fromInput.turns };
  }
  const toolNames = new Map<string, string>();
  const turns = thread.messages.slice(first).flatMap((m) => (m.role === 'system' ? [] : turnsOf(m, toolNames)));
  return { system: [instructions, ...systems].filter(Boolean).join('\n\n'), turns };
}

/** A tool call's arguments as the JSON object a thread stores; text that is not one, or too large for one, is kept under `raw`. */
function argumentsOf(call: ToolCall): T.JsonObject {
  const args = parseArguments(call);
  return (args.ok && fitsJsonObject(args.value) ? args.value : { raw: partText(call.arguments) }) as T.JsonObject;
}

/** At most this many messages go with a completion (the spec's limit). */
const MAX_MESSAGES = 100;

/** The turns a run added to its conversation, as the thread messages it adds: assistant turns with their tool calls, and the tool results. */
export function messagesOfTurns(turns: Turn[]): T.ThreadMessageCreate[] {
  const messages = turns.flatMap((turn): T.ThreadMessageCreate[] => {
    if (turn.role === 'user') return [{ role: 'user', content: [{ type: 'text', text: partText(turn.text) }] }];
    if (turn.role === 'tool')
      return [{ role: 'tool', content: [{ type: 'tool_result', toolCallId: turn.callId, content: partText(turn.content), isError: turn.isError }] }];
    const calls = turn.toolCalls.map((call): T.ThreadMessagePart => ({ type: 'tool_call', id: call.id, name: call.name, arguments: argumentsOf(call) }));
    const content: T.ThreadMessagePart[] = [...(turn.text ? [{ type: 'text' as const, text: partText(turn.text) }] : []), ...calls];
    return content.length ? [{ role: 'assistant', content }] : [];
  });
  if (messages.length <= MAX_MESSAGES) return messages;
  // Too many tool exchanges for one completion: the thread keeps what the assistant said, without
  // the calls (a call kept without its result would be refused by the model on the next run).
  const said = messages.flatMap((m): T.ThreadMessageCreate[] => {
    if (m.role !== 'assistant') return [];
    const text = m.content.filter((part) => part.type === 'text');
    return text.length ? [{ role: 'assistant', content: text }] : [];
  });
  return said.slice(-MAX_MESSAGES);
}
