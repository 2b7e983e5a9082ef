import { hostname } from 'node:os';
import type { Command } from 'commander';
import { Switchboard, type Role } from '@switchboard/sdk';
import { AuthenticationError, ConnectionError, PermissionDeniedError, TimeoutError } from '@switchboard/sdk';
import { configPath, writeConfig } from '../config.js';
import { DEFAULT_BASE_URL, keyPrefix, type Context } from '../context.js';
import { CliError, UsageError, withCauses } from '../errors.js';
import { ask, askSecret, baseUrlProblem, integer, interactive, readStdin } from '../input.js';
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

/** The widest scope a role allows: what a personal token made for the CLI asks for. */
const SCOPE_OF_ROLE: Record<Role, 'read' | 'write' | 'admin'> = { viewer: 'read', member: 'write', admin: 'admin', owner: 'admin' };

type PersonOptions = { email: string; passwordStdin?: boolean; orgId?: string; tokenDays: number };

/**
 * Logs a person in with their email and password, and makes the CLI a personal token of theirs (the
 * session itself is ended: the CLI keeps only the token, which expires and can be revoked alone).
 */
async function personalTokenFor(baseUrl: string, appIdFlag: string | undefined, o: PersonOptions) {
  const password = o.passwordStdin ? (await readStdin()).replace(/\r?\n$/, '') : interactive() ? await askSecret('Password (input hidden)') : '';
  if (!password) throw new UsageError(o.passwordStdin ? 'Standard input held no password.' : 'No terminal to ask for the password: give --password-stdin.');
  let session;
  try {
    session = await Switchboard.logIn({ email: o.email, password }, { baseUrl, orgId: o.orgId, maxRetries: 1, timeout: 15_000 });
  } catch (err) {
    if (err instanceof ConnectionError || err instanceof TimeoutError) throw new CliError(`Cannot reach ${baseUrl}: ${withCauses(err)}`);
    if (err instanceof AuthenticationError) throw new CliError(`${baseUrl} refused the login: ${err.message}`);
    throw err;
  }
  const { client } = session;
  try {
    const me = await client.me.get();
    const membership = o.orgId ? me.memberships.find((m) => m.organizationId === o.orgId) : me.memberships.length === 1 ? me.memberships[0] : undefined;
    if (!membership) {
      const list = me.memberships.map((m) => `  ${m.organizationId}  ${m.organizationName} (${m.role})`).join('\n');
      throw new UsageError(
        me.memberships.length ? `Choose an organization with --org-id:\n${list}` : `${o.email} belongs to no organization yet: accept an invitation first.`,
      );
    }
    let appId = appIdFlag;
    if (!appId) {
      const apps = (await client.applications.list({ pageSize: 100 })).data;
      if (apps.length !== 1) {
        throw new UsageError(`Choose the application to act in with --app-id:\n${apps.map((a) => `  ${a.id}  ${a.name}`).join('\n')}`);
      }
      appId = apps[0]!.id;
    }
    const expiresAt = new Date(Date.now() + o.tokenDays * 86_400_000).toISOString();
    const token = await client.personalTokens.create({
      name: `switchboard CLI on ${hostname()}`.slice(0, 200),
      scopes: [SCOPE_OF_ROLE[membership.role]],
      expiresAt,
    });
    return { token, appId, membership };
  } finally {
    await client.auth.logOut().catch(() => undefined);
  }
}

export function registerAuth(program: Command, ctx: Context) {
  examples(
    program
      .command('login')
      .description(
        'Verify an API key, or log in as a person and make a personal token, and store it (with the base URL) in a profile of the configuration file',
      )
      .option('--email <email>', 'log in as this person (asks for the password) and store a new personal token of theirs instead of an API key')
      .option('--password-stdin', 'with --email: read the password from standard input')
      .option('--org-id <id>', 'with --email: the organization the token acts in, when the person belongs to several')
      .option('--token-days <days>', 'with --email: how many days the personal token lives (1 to 365)', integer(1, 365), 90)
      .addHelpText(
        'after',
        `
Asks for the base URL and the key when --base-url and --api-key are not given and a terminal is
attached; without a terminal --api-key is required (the base URL then defaults to
SWITCHBOARD_BASE_URL, the profile's, or ${DEFAULT_BASE_URL}).

The base URL is where the server listens: http:// or https://, host and port, and a path only when
a proxy serves Switchboard under one; not the /api/v1 prefix, no query. Pressing Enter at the prompt
takes the value in brackets. The key is checked with GET /api/v1/organization and stored in
${configPath()} (mode 0600).

With --email, logs in as that person instead (the password is asked, or read with
--password-stdin), creates a personal token (sbp_...) with the widest scope the person's role
allows, for the application --app-id names (or the organization's only one), stores it as the
profile's key and ends the login session. Revoke the token with the API when the machine is gone.`,
      ),
    [
      'switchboard login',
      'switchboard login --email ada@example.com',
      'echo "$PASSWORD" | switchboard login --email ada@example.com --password-stdin --app-id app_...',
      'switchboard login --base-url https://switchboard.example.com --api-key sbk_...',
      'switchboard login --profile staging --base-url https://staging.example.com --api-key sbk_... --app-id app_...',
    ],
  ).action(async (o: Partial<PersonOptions> & { tokenDays: number }) => {
    const g = ctx.globals;
    const stored = ctx.storedProfile();
    const out = ctx.out;
    let baseUrl = g.baseUrl;
    let apiKey = g.apiKey;
    const fallbackUrl = process.env.SWITCHBOARD_BASE_URL || stored?.baseUrl || DEFAULT_BASE_URL;
    if (!o.email && (o.passwordStdin || o.orgId)) throw new UsageError('--password-stdin and --org-id go with --email.');
    if (o.email && apiKey) throw new UsageError('Give --email or --api-key, not both.');
    if (!o.email && !apiKey && !interactive()) throw new UsageError('No terminal to ask for the key: give --api-key (or --email with --password-stdin).');
    if (baseUrl) {
      const problem = baseUrlProblem(baseUrl);
      if (problem) throw new UsageError(`--base-url ${problem}.`);
    } else baseUrl = interactive() ? await askBaseUrl(fallbackUrl) : fallbackUrl;
    const problem = baseUrlProblem(baseUrl);
    if (problem) throw new UsageError(`The base URL ${problem} (from SWITCHBOARD_BASE_URL or the profile).`);
    baseUrl = baseUrl.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
    let appId = g.appId || undefined;
    let person: Awaited<ReturnType<typeof personalTokenFor>> | undefined;
    if (o.email) {
      person = await personalTokenFor(baseUrl, appId, { ...o, email: o.email });
      apiKey = person.token.secret;
      appId = person.appId;
    }
    if (!apiKey) apiKey = await askSecret('API key, sbk_... (input hidden)');
    if (!apiKey) throw new UsageError('No API key given.');
    const organization = await organizationOf(baseUrl, apiKey, appId);
    const config = ctx.configFile();
    config.profiles[ctx.profileName] = { baseUrl, apiKey, ...(appId ? { appId } : {}) };
    writeConfig(config);
    if (out.json) return out.data(organization);
    if (person) {
      out.print(`Logged in to ${organization.name} (${organization.id}) at ${baseUrl} as ${o.email} (${person.membership.role}), in application ${appId}`);
      out.print(`Created personal token ${person.token.id} (${keyPrefix(apiKey)}), expiring ${person.token.expiresAt}`);
    } else out.print(`Logged in to ${organization.name} (${organization.id}) at ${baseUrl} with key ${keyPrefix(apiKey)}`);
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
