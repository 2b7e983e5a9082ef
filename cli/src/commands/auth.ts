import type { Command } from 'commander';
import { Switchboard } from '@switchboard/sdk';
import { AuthenticationError, ConnectionError, PermissionDeniedError, TimeoutError } from '@switchboard/sdk';
import { configPath, writeConfig } from '../config.js';
import { DEFAULT_BASE_URL, keyPrefix, type Context } from '../context.js';
import { CliError, UsageError, withCauses } from '../errors.js';
import { ask, askSecret, baseUrlProblem, interactive } from '../input.js';
import { examples } from '../lists.js';

const BASE_URL_QUESTION = 'Base URL of the Switchboard server (http:// or https://, without /api/v1)';
const MAX_ASKS = 3;

/** Asks for the base URL until it is an http(s) URL (a few times at most). */
async function askBaseUrl(fallback: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const answer = await ask(BASE_URL_QUESTION, fallback);
    const problem = baseUrlProblem(answer);
    if (!problem) return answer;
    if (attempt === MAX_ASKS) throw new UsageError(`${problem}.`);
    process.stderr.write(`${problem}; try again.\n`);
  }
}

/** The organization the key belongs to, or an error that says where the call went. */
async function organizationOf(baseUrl: string, apiKey: string, appId: string | undefined) {
  try {
    return await new Switchboard({ baseUrl, apiKey, appId, maxRetries: 1, timeout: 15_000 }).organization.get();
  } catch (err) {
    if (err instanceof ConnectionError || err instanceof TimeoutError) throw new CliError(`Cannot reach ${baseUrl}: ${withCauses(err)}`);
    if (err instanceof AuthenticationError || err instanceof PermissionDeniedError) {
      throw new CliError(`${baseUrl} refused the key: ${err.message}${err.requestId ? ` (request ${err.requestId})` : ''}`);
    }
    throw err;
  }
}

export function registerAuth(program: Command, ctx: Context) {
  examples(
    program
      .command('login')
      .description('Verify an API key and store it (with the base URL) in a profile of the configuration file')
      .addHelpText(
        'after',
        `
Asks for the base URL and the key when --base-url and --api-key are not given and a terminal is
attached; without a terminal --api-key is required (the base URL then defaults to
SWITCHBOARD_BASE_URL, the profile's, or ${DEFAULT_BASE_URL}).

The base URL is where the server listens: http:// or https://, host and port, and a path only when
a proxy serves Switchboard under one; not the /api/v1 prefix, no query. Pressing Enter at the prompt
takes the value in brackets. The key is checked with GET /api/v1/organization and stored in
${configPath()} (mode 0600).`,
      ),
    [
      'switchboard login',
      'switchboard login --base-url https://switchboard.example.com --api-key sbk_...',
      'switchboard login --profile staging --base-url https://staging.example.com --api-key sbk_... --app-id app_...',
    ],
  ).action(async () => {
    const g = ctx.globals;
    const stored = ctx.storedProfile();
    const out = ctx.out;
    let baseUrl = g.baseUrl;
    let apiKey = g.apiKey;
    const fallbackUrl = process.env.SWITCHBOARD_BASE_URL || stored?.baseUrl || DEFAULT_BASE_URL;
    if (!apiKey && !interactive()) throw new UsageError('No terminal to ask for the key: give --api-key.');
    if (baseUrl) {
      const problem = baseUrlProblem(baseUrl);
      if (problem) throw new UsageError(`--base-url ${problem}.`);
    } else baseUrl = interactive() ? await askBaseUrl(fallbackUrl) : fallbackUrl;
    const problem = baseUrlProblem(baseUrl);
    if (problem) throw new UsageError(`The base URL ${problem} (from SWITCHBOARD_BASE_URL or the profile).`);
    if (!apiKey) apiKey = await askSecret('API key, sbk_... (input hidden)');
    if (!apiKey) throw new UsageError('No API key given.');
    baseUrl = baseUrl.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
    const appId = g.appId || undefined;
    const organization = await organizationOf(baseUrl, apiKey, appId);
    const config = ctx.configFile();
    config.profiles[ctx.profileName] = { baseUrl, apiKey, ...(appId ? { appId } : {}) };
    writeConfig(config);
    if (out.json) return out.data(organization);
    out.print(`Logged in to ${organization.name} (${organization.id}) at ${baseUrl} with key ${keyPrefix(apiKey)}`);
    out.print(`Saved as profile "${ctx.profileName}" in ${configPath()}`);
  });

  examples(program.command('logout').description('Remove a profile (its key and base URL) from the configuration file; the key itself stays valid'), [
    'switchboard logout',
    'switchboard logout --profile staging',
  ]).action(() => {
    const config = ctx.configFile();
    const out = ctx.out;
    const name = ctx.profileName;
    if (!ctx.storedProfile()) {
      out.print(`Profile "${name}" is not logged in.`);
      return;
    }
    delete config.profiles[name];
    writeConfig(config);
    out.print(`Logged out: removed profile "${name}" from ${configPath()}.`);
    out.note('The key itself still works until it is revoked (switchboard api-keys revoke <id>).');
  });

  examples(program.command('whoami').description('Show the organization, base URL, profile and key (its first 12 characters) in use'), [
    'switchboard whoami',
    'switchboard whoami --profile staging --json',
  ]).action(async () => {
    const settings = ctx.authenticated();
    const organization = await organizationOf(settings.baseUrl, settings.apiKey, settings.appId);
    const out = ctx.out;
    const summary = {
      organization: out.json ? organization : `${organization.name} (${organization.id})`,
      baseUrl: settings.baseUrl,
      profile: settings.profile,
      apiKey: keyPrefix(settings.apiKey),
      appId: settings.appId ?? null,
    };
    if (out.json) return out.data(summary);
    const from = (source: string | undefined) => (source === 'flag' ? ' (from the flag)' : source === 'env' ? ' (from the environment)' : '');
    out.object({
      organization: summary.organization,
      'base URL': `${summary.baseUrl}${from(settings.sources.baseUrl)}`,
      profile: summary.profile,
      'API key': `${summary.apiKey}${from(settings.sources.apiKey)}`,
      ...(settings.appId ? { application: `${settings.appId}${from(settings.sources.appId)}` } : {}),
    });
  });
}
