import { CallError, guardedPost } from './guarded-post.js';
import { withSecrets } from './secret-headers.js';
import { RunFailure, type RunContext, type RunOutcome } from './run-handler.js';

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

/** An http agent's `config.headers`: the string-valued ones, which may name secrets (`{{secrets.NAME}}`). */
const headersOf = (config: Record<string, unknown>): Record<string, string> => {
  const headers = config.headers;
  if (!headers || typeof headers !== 'object') return {};
  return Object.fromEntries(Object.entries(headers).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
};

/**
 * POSTs the run's input as JSON to the agent's URL (with the headers of its `config.headers`,
 * secrets filled in) and records the JSON response as the output,
 * through the connect-time address guard, without following redirects.
 */
export function httpExecutor(options: HttpExecutorOptions = {}) {
  return async (ctx: RunContext): Promise<RunOutcome> => {
    const url = ctx.agent.url;
    if (!url) throw new RunFailure('invalid_agent', 'The agent has runtime "http" but no url.');
    const timeoutMs = Math.min(options.timeoutMs ?? 60_000, ctx.agent.limits.timeoutSeconds * 1000);
    await ctx.log(`http: POST ${new URL(url).origin}${new URL(url).pathname}`);
    const { status, body } = await guardedPost(url, ctx.run.input, {
      allowPrivateAddresses: options.allowPrivateAddresses,
      timeoutMs,
      signal: ctx.signal,
      headers: { ...withSecrets(headersOf(ctx.agent.config), ctx.secrets), 'Switchboard-Run-Id': ctx.run.id, 'Switchboard-Attempt': String(ctx.run.attempt) },
      failure: 'http_error',
    }).catch((err: unknown) => {
      throw err instanceof CallError ? new RunFailure('http_error', err.message) : err;
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
