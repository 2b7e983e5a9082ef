import type { EventSourceMessage } from 'eventsource-parser';
import type * as T from '../generated/types.gen.js';
import type { Conversation, ModelStep } from './llm-conversation.js';
import { RunFailure } from './run-handler.js';

/** Reads one streamed answer, event by event. */
export type StreamReader = {
  /** Takes one server-sent event; true once the stream's own end marker came. */
  onEvent(event: EventSourceMessage): boolean;
  result(): ModelStep;
};

/** How one provider protocol is spoken: where to send, what to send, how to read the stream and the errors. */
export type WireFormat = {
  /** The endpoint under the gateway's base URL for this protocol. */
  path: string;
  headers: Record<string, string>;
  body(model: string, conversation: Conversation, tools: T.AgentTool[], config: T.JsonObject): Record<string, unknown>;
  reader(onText: (text: string) => void): StreamReader;
  /** The message of an error body in the protocol's envelope. */
  errorMessage(body: unknown): string | undefined;
};

/** Sampling settings an agent's `config` may carry, in the names both protocols use. */
export function sampling(config: T.JsonObject): { temperature?: number; max_tokens?: number } {
  const temperature = typeof config.temperature === 'number' ? config.temperature : undefined;
  const maxTokens = typeof config.maxTokens === 'number' ? config.maxTokens : undefined;
  return { ...(temperature !== undefined ? { temperature } : {}), ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}) };
}

/** A tool's JSON Schema, or one that takes any object when the tool gave none. */
export const parametersOf = (tool: T.AgentTool): T.JsonObject => tool.inputSchema ?? { type: 'object', properties: {} };

/** An event's JSON data; a stream that sends anything else is broken. */
export function eventJson(event: EventSourceMessage): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(event.data);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // Reported below, like any other data that is not an object.
  }
  throw new RunFailure('model_error', `The model's stream sent an event that is not a JSON object: ${event.data.slice(0, 200)}`);
}
