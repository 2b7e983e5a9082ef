/* eslint-disable @typescript-eslint/no-meaningless-void-operator -- a type test: `void x` uses a value only to check its type. */
/**
 * Compiled by `npm run typecheck`, never run: the SDK's run events are a union discriminated by
 * `type`, generated from the spec's event schemas. Each `@ts-expect-error` is an access that must
 * not compile; if it ever does (the union became `{ type: string; data: unknown }` again), the
 * directive itself is the error.
 */
import type { Switchboard, RunCustomEvent, RunEvent, RunStatus } from '@switchboard/sdk';

export function describeEvent(event: RunEvent): string {
  switch (event.type) {
    case 'status': {
      const status: RunStatus = event.data.status;
      const previous: RunStatus | null = event.data.previousStatus;
      // @ts-expect-error a status event has no message
      void event.data.message;
      return `${previous ?? '-'} -> ${status} (${event.data.error?.code ?? 'ok'})`;
    }
    case 'log': {
      const message: string = event.data.message;
      const level: 'debug' | 'info' | 'warn' | 'error' | undefined = event.data.level;
      // @ts-expect-error a log line's message is a string, not a number
      const wrong: number = event.data.message;
      void wrong;
      return `${level ?? 'info'} ${message}`;
    }
    case 'output.delta': {
      const text: string | undefined = event.data.text;
      return text ?? JSON.stringify(event.data.delta);
    }
    case 'usage': {
      const tokens: number | undefined = event.data.inputTokens;
      return String(tokens);
    }
    case 'thread.message': {
      const seq: number = event.data.seq;
      return `message ${String(seq)}`;
    }
    case 'approval.requested':
    case 'approval.decided':
    case 'approval.expired':
    case 'approval.cancelled': {
      const title: string = event.data.title;
      return `${event.type} ${title}`;
    }
    default: {
      // Every type of the union is handled above.
      const none: never = event;
      return none;
    }
  }
}

export function narrowsWithIf(event: RunEvent) {
  if (event.type === 'log') return event.data.message.toUpperCase();
  // @ts-expect-error only a log event has a message: the union is not narrowed here
  return event.data.message;
}

// @ts-expect-error 'log.line' is not a type of the union
export const unknownType = (event: RunEvent) => event.type === 'log.line';

type ToolCall = RunCustomEvent & { type: 'tool.call'; data: { name: string } };

/** A runner's own types join the union by name, and narrow like the others. */
export async function customTypes(sb: Switchboard, runId: string) {
  for await (const event of sb.runs.stream<ToolCall>(runId)) {
    if (event.type === 'tool.call') {
      const name: string = event.data.name;
      void name;
    } else if (event.type === 'log') {
      const message: string = event.data.message;
      void message;
    }
  }
  const page = await sb.runs.events(runId);
  for (const event of page.data) if (event.type === 'status') void (event.data.attempt satisfies number);
  // @ts-expect-error a runner's own types are not in the default union
  for (const event of page.data) if (event.type === 'tool.call') void event;
}
