import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { createParser } from 'eventsource-parser';
import type { Context } from '../context.js';
import { CliError, withCauses } from '../errors.js';
import { interactive, readStdin } from '../input.js';
import { examples } from '../lists.js';

type Message = { role: 'system' | 'user' | 'assistant'; content: string };
type Usage = { prompt_tokens?: number; completion_tokens?: number };
type Chunk = { choices?: { delta?: { content?: string | null } }[]; usage?: Usage | null; error?: { message?: string } };

/** The gateway's error, in OpenAI's envelope, as one line with the request id. */
async function gatewayError(response: Response): Promise<CliError> {
  const requestId = response.headers.get('request-id');
  const body = (await response.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
  const message = body?.error?.message ?? `HTTP ${response.status}`;
  return new CliError(`${message}${requestId ? ` (request ${requestId})` : ''}`);
}

/**
 * One streamed answer of the gateway's chat completions: each piece of text is written as it
 * arrives; the whole answer and the token counts are returned.
 */
async function streamAnswer(ctx: Context, alias: string, messages: Message[], write: (text: string) => void, signal: AbortSignal) {
  const { baseUrl, apiKey, appId } = ctx.authenticated();
  let response: Response;
  try {
    response = await fetch(`${baseUrl}/api/v1/llm/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}`, ...(appId ? { 'X-App-Id': appId } : {}) },
      body: JSON.stringify({ model: alias, messages, stream: true, stream_options: { include_usage: true } }),
      signal,
    });
  } catch (err) {
    throw new CliError(`cannot reach ${baseUrl}: ${withCauses(err as Error)}`);
  }
  if (!response.ok || !response.body) throw await gatewayError(response);
  let answer = '';
  let usage: Usage | undefined;
  let failure: string | undefined;
  const parser = createParser({
    onEvent: (event) => {
      if (event.data === '[DONE]') return;
      const chunk = JSON.parse(event.data) as Chunk;
      if (chunk.error) failure = chunk.error.message ?? 'the stream failed';
      const text = chunk.choices?.[0]?.delta?.content;
      if (text) {
        answer += text;
        write(text);
      }
      if (chunk.usage) usage = chunk.usage;
    },
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) parser.feed(read.value);
  if (failure) throw new CliError(failure);
  return { answer, usage };
}

const usageLine = (usage: Usage | undefined) => (usage ? `(${usage.prompt_tokens ?? '?'} tokens in, ${usage.completion_tokens ?? '?'} out)` : '');

/** `switchboard chat <alias> [message]`: one answer, or a conversation at the terminal. */
export function registerChat(program: Command, ctx: Context) {
  examples(
    program
      .command('chat')
      .description('Talk to a model alias through the gateway: one message and its streamed answer, or a conversation when no message is given')
      .argument('<alias>', 'a chat model alias (see "switchboard models list --api chat")')
      .argument('[message]', 'the message; without it, stdin is read (or, at a terminal, a conversation starts)')
      .option('--system <text>', 'system instructions'),
    ['switchboard chat default "Write a haiku about queues"', 'echo "Summarise: ..." | switchboard chat default', 'switchboard chat support-default'],
  ).action(async (alias: string, message: string | undefined, o: { system?: string }) => {
    const out = ctx.out;
    const history: Message[] = o.system ? [{ role: 'system', content: o.system }] : [];
    const controller = new AbortController();
    const ask = async (content: string) => {
      history.push({ role: 'user', content });
      const { answer, usage } = await streamAnswer(ctx, alias, history, (text) => out.stdout.write(text), controller.signal);
      history.push({ role: 'assistant', content: answer });
      out.print();
      if (usage) out.note(out.dim(usageLine(usage)));
    };

    if (message !== undefined || !interactive()) {
      await ask(message ?? (await readStdin()).trim());
      return;
    }
    out.note(out.dim(`Chatting with ${alias}. An empty line or Ctrl-D ends the conversation.`));
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true, prompt: 'you> ' });
    rl.on('SIGINT', () => {
      controller.abort();
      rl.close();
    });
    rl.prompt();
    for await (const line of rl) {
      if (!line.trim()) break;
      await ask(line);
      rl.prompt();
    }
    rl.close();
  });
}
