import { StringDecoder } from 'node:string_decoder';

/**
 * One Server-Sent Event of a provider's stream: its `event:` name and its `data:` (lines joined
 * with a line feed) when it has them, and `raw`, the event as received (lines, then a blank line),
 * which is what the caller is sent unless the event is changed.
 */
export type SseEvent = { name: string | undefined; data: string | undefined; lines: string[]; raw: string };

/** The event with its data replaced, its other lines (`event:`, `id:`, comments) kept. */
export function withData(event: SseEvent, data: string): string {
  const others = event.lines.filter((line) => !/^data(:|$)/.test(line));
  return `${[...others, `data: ${data}`].join('\n')}\n\n`;
}

const FIELD = /^([^:]*)(?::(.*))?$/;

/**
 * Splits a byte stream into events, whatever the chunking: a multi-byte character or a line may
 * be cut between two chunks, lines end in LF, CRLF or CR (a CR at the end of a chunk waits for
 * the next one, which may start with its LF).
 */
export function sseSplitter(onEvent: (event: SseEvent) => void) {
  const decoder = new StringDecoder('utf8');
  let buffer = '';
  let lines: string[] = [];

  const line = (text: string) => {
    if (text === '') {
      if (lines.length) emit();
      return;
    }
    lines.push(text);
  };

  const emit = () => {
    let name: string | undefined;
    let data: string[] | undefined;
    for (const text of lines) {
      const [, field, rawValue] = FIELD.exec(text)!;
      if (field === '') continue;
      const value = rawValue === undefined ? '' : rawValue.startsWith(' ') ? rawValue.slice(1) : rawValue;
      if (field === 'event') name = value;
      else if (field === 'data') (data ??= []).push(value);
    }
    const event = { name, data: data?.join('\n'), lines, raw: `${lines.join('\n')}\n\n` };
    lines = [];
    onEvent(event);
  };

  const drain = (final: boolean) => {
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      // A CR as the last character may be the first half of a CRLF.
      if (c === 13 && i === buffer.length - 1 && !final) break;
      line(buffer.slice(start, i));
      if (c === 13 && buffer.charCodeAt(i + 1) === 10) i++;
      start = i + 1;
    }
    buffer = buffer.slice(start);
  };

  return {
    push(chunk: Buffer) {
      buffer += decoder.write(chunk);
      drain(false);
    },
    /** The stream ended: a last event without its blank line is incomplete, and is dropped as the SSE rules say. */
    end() {
      buffer += decoder.end();
      drain(true);
    },
  };
}
