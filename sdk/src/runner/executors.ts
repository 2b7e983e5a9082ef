import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { RunFailure, type RunContext, type RunOutcome } from './run-handler.js';

type FilteringAgent = typeof import('request-filtering-agent');
let filteringAgent: Promise<FilteringAgent> | undefined;

/**
 * request-filtering-agent is an optional peer dependency, loaded with the first http run: library
 * users who never execute http agents do not install it (the CLI and the server do).
 */
async function loadFilteringAgent(): Promise<FilteringAgent> {
  try {
    return await (filteringAgent ??= import('request-filtering-agent'));
  } catch (err) {
    filteringAgent = undefined;
    throw new RunFailure(
      'http_error',
      `This runner cannot call http agents: install request-filtering-agent next to @switchboard/sdk (${(err as Error).message}).`,
    );
  }
}

/** Returns the run's input as its output, with a few log events: for demos and tests. */
export async function echo(ctx: RunContext): Promise<RunOutcome> {
  await ctx.log('echo: received the input', 'info', { keys: Object.keys(ctx.run.input) });
  await ctx.emit('output.delta', { delta: ctx.run.input });
  await ctx.log('echo: done');
  return { output: ctx.run.input };
}

export type HttpExecutorOptions = {
  /** Allow agent URLs that resolve to private, loopback or link-local addresses (refused by default). */
  allowPrivateAddresses?: boolean;
  /** Upper bound of one call, in milliseconds; the agent's own timeout applies when shorter. */
  timeoutMs?: number;
};

const MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * POSTs the run's input as JSON to the agent's URL and records the JSON response as the output.
 * The address is checked when the connection is made (so DNS tricks do not get around it), and
 * redirects are not followed.
 */
export function httpExecutor(options: HttpExecutorOptions = {}) {
  return async (ctx: RunContext): Promise<RunOutcome> => {
    const url = ctx.agent.url;
    if (!url) throw new RunFailure('invalid_agent', 'The agent has runtime "http" but no url.');
    const timeoutMs = Math.min(options.timeoutMs ?? 60_000, ctx.agent.limits.timeoutSeconds * 1000);
    const payload = Buffer.from(JSON.stringify(ctx.run.input));
    const { useAgent } = await loadFilteringAgent();
    await ctx.log(`http: POST ${new URL(url).origin}${new URL(url).pathname}`);
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(
        url,
        {
          method: 'POST',
          agent: useAgent(url, { allowPrivateIPAddress: Boolean(options.allowPrivateAddresses) }),
          headers: {
            'Content-Type': 'application/json',
            'Content-Length': payload.length,
            'Switchboard-Run-Id': ctx.run.id,
            'Switchboard-Attempt': String(ctx.run.attempt),
          },
          timeout: timeoutMs,
          signal: ctx.signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) request.destroy(new RunFailure('http_error', `The response is larger than ${MAX_RESPONSE_BYTES} bytes.`));
            else chunks.push(chunk);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new RunFailure('http_error', `No response within ${timeoutMs} ms.`)));
      request.on('error', (err) => reject(err instanceof RunFailure ? err : new RunFailure('http_error', err.message)));
      request.end(payload);
    });
    if (status < 200 || status >= 300) throw new RunFailure('http_error', `The agent answered HTTP ${status}.`);
    let output: unknown;
    try {
      output = body ? JSON.parse(body) : {};
    } catch {
      output = { body };
    }
    return { output: typeof output === 'object' && output !== null && !Array.isArray(output) ? (output as Record<string, unknown>) : { result: output } };
  };
}
