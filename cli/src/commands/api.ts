import { InvalidArgumentError, type Command } from 'commander';
import { Switchboard } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { problemLines, UsageError } from '../errors.js';
import { readArgument } from '../input.js';
import { examples } from '../lists.js';

/** `Name: value` pairs of repeatable `-H` options. */
const headerPair = (value: string, previous: [string, string][] = []): [string, string][] => {
  const at = value.indexOf(':');
  if (at < 1) throw new InvalidArgumentError('must be "Name: value"');
  return [...previous, [value.slice(0, at).trim(), value.slice(at + 1).trim()]];
};

/** The body as pretty JSON when it is JSON, as it came otherwise. */
function pretty(body: string, contentType: string | null): string {
  if (body && /[/+]json\b/.test(contentType ?? '')) {
    try {
      return JSON.stringify(JSON.parse(body), null, 2);
    } catch {
      // not JSON after all: print it as it came
    }
  }
  return body;
}

export function registerApi(program: Command, ctx: Context) {
  examples(
    program
      .command('api')
      .description('Make an authenticated request to any endpoint and print the response body')
      .argument('<method>', 'GET, POST, PATCH, PUT, DELETE, ...')
      .argument('<path>', 'path under the base URL, with its query string, e.g. /api/v1/agents?status=active')
      .argument('[body]', 'request body: JSON text, @file, or - for stdin (sent as application/json)')
      .option('-i, --include', 'print the status line and the response headers first')
      .option('-H, --header <header>', 'extra request header, "Name: value" (repeatable)', headerPair)
      .addHelpText(
        'after',
        '\nRetries like the SDK (network errors, 429, 5xx); POSTs get an Idempotency-Key unless -H gives one.\nExits with 1 when the response is an error (its body is printed, the problem summary goes to stderr).',
      ),
    [
      'switchboard api GET /api/v1/agents',
      'switchboard api GET "/api/v1/runs?status=failed&pageSize=5" --include',
      'switchboard api POST /api/v1/agents \'{"name": "Support bot", "model": "gpt-4.1"}\'',
      'switchboard api PATCH /api/v1/agents/agent_01jd4... @patch.json',
      'cat run.json | switchboard api POST /api/v1/runs - -H "Idempotency-Key: 7c0e..."',
    ],
  ).action(async (methodArg: string, path: string, bodyArg: string | undefined, o: { include?: boolean; header?: [string, string][] }) => {
    const method = methodArg.toUpperCase();
    if (!/^[A-Z]+$/.test(method)) throw new UsageError(`"${methodArg}" is not an HTTP method.`);
    if (/^[a-z][a-z0-9+.-]*:/i.test(path))
      throw new UsageError('Give a path such as /api/v1/agents: the base URL comes from --base-url, SWITCHBOARD_BASE_URL or the profile.');
    const settings = ctx.authenticated();
    const body = bodyArg === undefined ? undefined : await readArgument(bodyArg, 'the body');
    if (body !== undefined && (method === 'GET' || method === 'HEAD')) throw new UsageError(`A ${method} request cannot have a body.`);
    const headers = new Headers({ Accept: 'application/json, application/problem+json;q=0.9, */*;q=0.1' });
    if (settings.appId) headers.set('X-App-Id', settings.appId);
    if (body !== undefined) headers.set('Content-Type', 'application/json');
    if (method === 'POST') headers.set('Idempotency-Key', globalThis.crypto.randomUUID());
    for (const [name, value] of o.header ?? []) headers.set(name, value);
    // A credential given with -H replaces the profile's key.
    const ownCredential = headers.has('authorization') || headers.has('x-api-token');
    const client = new Switchboard({ baseUrl: settings.baseUrl, apiKey: ownCredential ? '' : settings.apiKey });
    const response = await client.rawRequest(path, { method, headers, body });
    const text = await response.text();
    const out = ctx.out;
    if (o.include) {
      out.print(`HTTP/1.1 ${response.status} ${response.statusText}`);
      for (const [name, value] of response.headers) out.print(`${name}: ${value}`);
      out.print();
    }
    const shown = pretty(text, response.headers.get('content-type'));
    if (shown) out.stdout.write(shown.endsWith('\n') ? shown : `${shown}\n`);
    if (!response.ok) {
      let problem: unknown;
      try {
        problem = JSON.parse(text);
      } catch {
        problem = undefined;
      }
      const fallback = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
      for (const line of problemLines(typeof problem === 'object' && problem ? problem : undefined, fallback, response.headers.get('request-id') ?? undefined))
        out.note(line);
      process.exitCode = 1;
    }
  });
}
