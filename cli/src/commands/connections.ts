import type { Command } from 'commander';
import type { Connection, ConnectionCreate, ConnectionOwner, ConnectionProvider, Integration, IntegrationCreate } from '@switchboard/sdk';
import type { Context } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { askSecret, collect, integer, interactive, oneOf, readArgument, readStdin } from '../input.js';
import { examples, listOptions, pageQuery, printList, printObject, type ListOptions } from '../lists.js';
import { shortTime, type Column } from '../output.js';

const STATUSES: Connection['status'][] = ['active', 'needs_reauth', 'revoked'];

/** An owner as `budgets --scope` spells one: `application`, `user:user_...`, `end-user:eu_...`. */
const ownerText = (owner: ConnectionOwner) =>
  owner.type === 'application' ? 'application' : `${owner.type === 'end_user' ? 'end-user' : 'user'}:${owner.id ?? ''}`;

const PROVIDER_COLUMNS: Column<ConnectionProvider>[] = [
  { header: 'ID', value: (p) => p.id },
  { header: 'NAME', value: (p) => p.name },
  { header: 'AUTH', value: (p) => p.authType },
  { header: 'API', value: (p) => p.apiBaseUrl },
  { header: 'HOSTS', value: (p) => p.allowedHosts },
];
const INTEGRATION_COLUMNS: Column<Integration>[] = [
  { header: 'ID', value: (i) => i.id },
  { header: 'PROVIDER', value: (i) => i.providerId },
  { header: 'AUTH', value: (i) => i.authType },
  { header: 'OAUTH CLIENT', value: (i) => (i.oauthClient ? `${i.oauthClient.clientId}${i.oauthClient.hasClientSecret ? '' : ' (public)'}` : '') },
  { header: 'SCOPES', value: (i) => i.scopes },
  { header: 'CREATED', value: (i) => shortTime(i.createdAt) },
];
const COLUMNS: Column<Connection>[] = [
  { header: 'ID', value: (c) => c.id },
  { header: 'PROVIDER', value: (c) => c.providerId },
  { header: 'OWNER', value: (c) => ownerText(c.owner) },
  { header: 'LABEL', value: (c) => c.label },
  { header: 'STATUS', value: (c) => c.status, status: true },
  { header: 'EXPIRES', value: (c) => (c.expiresAt ? shortTime(c.expiresAt) : '') },
  { header: 'LAST USED', value: (c) => (c.lastUsedAt ? shortTime(c.lastUsedAt) : 'never') },
];

/** An integration named by its id (`int_...`) or by its provider's (`github`): a provider is enabled once per application. */
async function integrationIdOf(ctx: Context, ref: string): Promise<string> {
  if (ref.startsWith('int_')) return ref;
  // The API filters integrations by nothing: an application has few, so every page is read.
  for await (const integration of ctx.client().integrations.list({ pageSize: 100 })) if (integration.providerId === ref) return integration.id;
  throw new UsageError(`The application has not enabled ${ref}: switchboard integrations enable ${ref} does (switchboard connections providers lists them).`);
}

/**
 * A credential from a file or standard input, never an argument, which shells keep in their history
 * and other users see in the process list. Typed without echo on a terminal; the newline that ends
 * a file or a pipe is not part of it.
 */
async function credential(file: string | undefined, what: string, hint: string): Promise<string> {
  const raw =
    file !== undefined
      ? await readArgument(`@${file}`, what)
      : interactive()
        ? await askSecret(`${what[0]!.toUpperCase()}${what.slice(1)} (input hidden)`)
        : await readStdin();
  const value = raw.replace(/\r?\n$/, '');
  if (!value) throw new UsageError(`No ${what} ${file !== undefined ? `in ${file}` : 'on standard input'}: ${hint}.`);
  return value;
}

/** The owner `--user` names; `--end-user` goes as Switchboard-User instead, which also takes the application's own identifier for them. */
function ownerOf(o: OwnerFlags): Pick<ConnectionCreate, 'owner'> {
  if (o.user && o.endUser) throw new UsageError('Give --user or --end-user, not both: a connection has one owner.');
  return o.user ? { owner: { type: 'user', id: o.user } } : {};
}

type OwnerFlags = { user?: string; endUser?: string };
type EnableFlags = { clientId?: string; clientSecretStdin?: boolean; clientSecretFile?: string; scope?: string[]; idempotencyKey?: string };
type ConnectionListFlags = ListOptions & { integration?: string; owner?: string; status?: Connection['status'] };
type CreateFlags = OwnerFlags & { label?: string; username?: string; credentialFile?: string; idempotencyKey?: string };
type ConnectFlags = OwnerFlags & { redirectUrl?: string; expiresIn?: number; idempotencyKey?: string };

const ownerOptions = (command: Command, made: string) =>
  command
    .option('--end-user <id>', `${made} for this end-user: eu_..., or your own identifier for them (created on first use)`)
    .option('--user <userId>', `${made} for this member of the organization (user_...)`);

export function registerConnections(program: Command, ctx: Context) {
  const integrations = examples(
    program
      .command('integrations')
      .description("The application's providers of the catalogue, each with the OAuth client its connections are made with (its secret never shown)"),
    [
      'switchboard connections providers',
      'switchboard integrations enable github --client-id Iv1.8a61... --client-secret-file github-secret.txt --scope repo',
      'switchboard integrations enable zendesk',
      'switchboard integrations list',
    ],
  );

  examples(listOptions(integrations.command('list').description('List the integrations, newest first')), [
    'switchboard integrations list',
    'switchboard integrations list --json',
  ]).action(async (o: ListOptions) => {
    await printList(ctx, ctx.client().integrations.list(pageQuery(o)), INTEGRATION_COLUMNS, o, 'integrations');
  });

  examples(
    integrations
      .command('enable')
      .description('Enable a provider of the catalogue in the application (once per provider); an oauth2 one needs the OAuth client registered with it')
      .argument('<provider>', 'the provider, as switchboard connections providers lists it')
      .option('--client-id <id>', 'oauth2: the client id registered with the provider')
      .option('--client-secret-stdin', 'oauth2: read the client secret from standard input (asked without echo on a terminal)')
      .option('--client-secret-file <path>', 'oauth2: read the client secret from this file')
      .option('--scope <scope>', "oauth2: a scope to ask for when connecting (repeatable; the provider's defaults otherwise)", collect)
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)')
      .addHelpText(
        'after',
        `
The client secret is never an argument (shells keep those in their history, and other users see
them in the process list); without one, the client is public and relies on PKCE alone. Register
<the server's public URL>/api/v1/oauth/callback as the OAuth app's redirect URI.`,
      ),
    [
      'switchboard integrations enable zendesk',
      'switchboard integrations enable github --client-id Iv1.8a61... --client-secret-stdin --scope repo --scope read:org',
      'printf %s "$GITHUB_SECRET" | switchboard integrations enable github --client-id Iv1.8a61... --client-secret-stdin',
    ],
  ).action(async (providerId: string, o: EnableFlags) => {
    if (o.clientSecretStdin && o.clientSecretFile !== undefined) throw new UsageError('Give --client-secret-stdin or --client-secret-file, not both.');
    const secretWanted = o.clientSecretStdin || o.clientSecretFile !== undefined;
    if (secretWanted && o.clientId === undefined) throw new UsageError('A client secret goes with its client: give --client-id too.');
    const clientSecret = secretWanted
      ? (await credential(o.clientSecretFile, 'client secret', 'give it, or leave out --client-secret-stdin for a public client')).trim()
      : undefined;
    const body: IntegrationCreate = {
      providerId,
      ...(o.clientId !== undefined ? { oauthClient: { clientId: o.clientId, ...(clientSecret !== undefined ? { clientSecret } : {}) } } : {}),
      ...(o.scope ? { scopes: o.scope } : {}),
    };
    printObject(ctx, await ctx.client().integrations.create(body, { idempotencyKey: o.idempotencyKey }));
  });

  examples(integrations.command('get').description('Show an integration (never its client secret)').argument('<integration>', 'its id or its provider'), [
    'switchboard integrations get github',
    'switchboard integrations get int_01jd6... --json',
  ]).action(async (ref: string) => printObject(ctx, await ctx.client().integrations.get(await integrationIdOf(ctx, ref))));

  examples(
    integrations
      .command('disable')
      .description('Disable a provider in the application: deletes the integration with its connections and their credentials')
      .argument('<integration>', 'its id or its provider')
      .option('--if-match <etag>', 'only if the integration still has this ETag')
      .addHelpText('after', '\nThe provider is not told: revoke the connections first (switchboard connections delete) to have it revoke their tokens.'),
    ['switchboard integrations disable github'],
  ).action(async (ref: string, o: { ifMatch?: string }) => {
    const id = await integrationIdOf(ctx, ref);
    await ctx.client().integrations.delete(id, { ifMatch: o.ifMatch });
    if (!ctx.out.json) ctx.out.print(`Disabled integration ${id}: its connections are deleted.`);
  });

  const connections = examples(
    program
      .command('connections')
      .description(
        'Credentials for external services, held for the application, a member or an end-user: stored from standard input, or made through a connect link',
      ),
    [
      'switchboard connections connect github --end-user customer-4821',
      'printf %s "$ZENDESK_KEY" | switchboard connections create zendesk --label "Support desk"',
      'switchboard connections list --status needs_reauth',
    ],
  );

  examples(
    listOptions(
      connections.command('providers').description("List the catalogue's providers the operator configured: how each authenticates, the hosts it may call"),
    ),
    ['switchboard connections providers', 'switchboard connections providers --json'],
  ).action(async (o: ListOptions) => {
    await printList(ctx, ctx.client().connectionProviders.list(pageQuery(o)), PROVIDER_COLUMNS, o, 'connection providers');
  });

  examples(
    listOptions(
      connections
        .command('list')
        .description('List the connections, newest first, revoked ones included: never a credential')
        .option('--integration <integration>', 'only the connections of this integration (its id or its provider)')
        .option('--owner <id>', 'only the connections of this member (user_...) or end-user (eu_...)')
        .option('--status <status>', `only connections in this status: ${STATUSES.join(', ')}`, oneOf(...STATUSES)),
    ),
    [
      'switchboard connections list',
      'switchboard connections list --integration github --status active',
      'switchboard connections list --owner eu_01jd4... --json',
    ],
  ).action(async (o: ConnectionListFlags) => {
    const query = {
      ...pageQuery(o),
      ...(o.integration !== undefined ? { integrationId: await integrationIdOf(ctx, o.integration) } : {}),
      ...(o.owner !== undefined ? { ownerId: o.owner } : {}),
      ...(o.status ? { status: o.status } : {}),
    };
    await printList(ctx, ctx.client().connections.list(query), COLUMNS, o, 'connections');
  });

  examples(connections.command('get').description('Show a connection (never its credentials)').argument('<connectionId>'), [
    'switchboard connections get con_01jd6...',
    'switchboard connections get con_01jd6... --json | jq .status',
  ]).action(async (id: string) => printObject(ctx, await ctx.client().connections.get(id)));

  examples(
    ownerOptions(
      connections
        .command('create')
        .description('Store an API key, or a user name and password, for an api_key or basic integration, reading the secret from standard input')
        .argument('<integration>', 'its id or its provider')
        .option('--username <name>', 'basic: the user name (the password is read like an API key)')
        .option('--credential-file <path>', 'read the API key or password from this file instead of standard input')
        .option('--label <text>', 'a name, for people'),
      'store it',
    )
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)')
      .addHelpText(
        'after',
        `
The API key or password is never an argument: it is asked without echo on a terminal, or read from
a pipe or --credential-file. The application owns the connection unless --end-user or --user
names someone; an owner's connection stored again gets the new credentials and is active.`,
      ),
    [
      'switchboard connections create zendesk   # asks for the key, without echo',
      'printf %s "$ZENDESK_KEY" | switchboard connections create zendesk --end-user customer-4821',
      'switchboard connections create jira --username bot@example.com --credential-file jira-password.txt',
    ],
  ).action(async (ref: string, o: CreateFlags) => {
    const owner = ownerOf(o);
    const integration = await ctx.client().integrations.get(await integrationIdOf(ctx, ref));
    if (integration.authType === 'oauth2') {
      throw new UsageError(`${integration.providerId} connects with OAuth 2: switchboard connections connect ${ref} makes the link to connect through.`);
    }
    const basic = integration.authType === 'basic';
    if (basic && o.username === undefined) throw new UsageError(`${integration.providerId} takes a user name and password: give --username.`);
    if (!basic && o.username !== undefined) throw new UsageError(`${integration.providerId} takes an API key alone: leave out --username.`);
    const what = basic ? 'password' : 'API key';
    const secret = await credential(o.credentialFile, what, `pipe it in (printf %s "$SECRET" | switchboard connections create ${ref}) or type it`);
    const body: ConnectionCreate = {
      integrationId: integration.id,
      ...owner,
      ...(o.label !== undefined ? { label: o.label } : {}),
      credentials: basic ? { username: o.username!, password: secret } : { apiKey: secret },
    };
    printObject(ctx, await ctx.client(o.endUser).connections.create(body, { idempotencyKey: o.idempotencyKey }));
  });

  examples(
    ownerOptions(
      connections
        .command('connect')
        .description('Make a connect link for an oauth2 integration, safe to send to the owner: it opens once, expires, and leads to the consent page')
        .argument('<integration>', 'its id or its provider')
        .option('--redirect-url <url>', 'where the browser goes once connected (otherwise a page says the connection is made)')
        .option('--expires-in <seconds>', 'how long the link may be opened, 60 to 604800 (default 3600)', integer(60, 604_800)),
      'connect',
    ).option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)'),
    [
      'switchboard connections connect github',
      'switchboard connections connect github --end-user customer-4821 --redirect-url https://app.example.com/settings',
      'switchboard connections connect github --json | jq -r .connectUrl',
    ],
  ).action(async (ref: string, o: ConnectFlags) => {
    const owner = ownerOf(o);
    const session = await ctx.client(o.endUser).connectSessions.create(
      {
        integrationId: await integrationIdOf(ctx, ref),
        ...owner,
        ...(o.redirectUrl !== undefined ? { redirectUrl: o.redirectUrl } : {}),
        ...(o.expiresIn !== undefined ? { expiresInSeconds: o.expiresIn } : {}),
      },
      { idempotencyKey: o.idempotencyKey },
    );
    const out = ctx.out;
    if (out.json) {
      out.data(session);
      return;
    }
    // The link alone on stdout, for $(...); what it is for on stderr.
    out.print(session.connectUrl);
    out.note(out.dim(`A link for ${ownerText(session.owner)} to connect ${ref}: it opens once, until ${shortTime(session.expiresAt)} UTC.`));
  });

  examples(
    connections
      .command('refresh')
      .description("Exchange an oauth2 connection's refresh token for new tokens now; exits 1 when the provider refuses (needs_reauth)")
      .argument('<connectionId>'),
    ['switchboard connections refresh con_01jd6...'],
  ).action(async (id: string) => {
    const connection = await ctx.client().connections.refresh(id);
    printObject(ctx, connection);
    if (connection.status === 'needs_reauth') {
      throw new CliError(
        `The provider refused the refresh (${connection.statusReason ?? 'no reason given'}): ${ownerText(connection.owner)} must connect again (switchboard connections connect ${connection.providerId}).`,
      );
    }
  });

  examples(
    connections
      .command('delete')
      .description('Revoke a connection: the provider revokes its tokens when it can, its credentials are erased, and it stays listed as revoked')
      .argument('<connectionId>')
      .option('--if-match <etag>', 'only if the connection still has this ETag'),
    ['switchboard connections delete con_01jd6...'],
  ).action(async (id: string, o: { ifMatch?: string }) => {
    await ctx.client().connections.delete(id, { ifMatch: o.ifMatch });
    if (!ctx.out.json) ctx.out.print(`Revoked connection ${id}.`);
  });
}
