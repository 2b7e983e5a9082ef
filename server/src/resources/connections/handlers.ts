import type { IncomingHttpHeaders } from 'node:http';
import type { AuthContext } from '../../auth/identity.js';
import type { RunTokenIdentity } from '../../auth/run-token.js';
import type { Executor } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import type { Sealer } from '../../security/sealer.js';
import { nowMs } from '../../util/time.js';
import { readmitAfterConnection } from '../budgets/admission.js';
import { defineHandlers, ownTransaction } from '../handler-types.js';
import { isMember } from '../members/store.js';
import type { RunEventBus, StoredEvent } from '../runs/events.js';
import { recordEvent } from '../webhooks/outbox.js';
import { GrantRefused, exchangeCode, revokeToken, upstreamProblem } from './oauth.js';
import { OutboundFailure } from './outbound.js';
import { connectedPage, formPage, PAGE_HEADERS } from './page.js';
import { clientOf, refreshConnectionTokens } from './refresh.js';
import { completeFormSession, createSession, openSession, pendingSession, takeSession } from './sessions.js';
import { authTypeOf, callbackUrl, connectionSettings, providerOf } from './settings.js';
import * as store from './store.js';
import { ownersOfRun, runsWaitingFor } from './waits.js';

type OwnerInput = { type: store.ConnectionOwner['type']; id?: string };

const invalid = (pointer: string, detail: string) => new ProblemError('validation-error', detail, { errors: [{ pointer, in: 'body', detail }] });

/**
 * The owner a request names, checked: the application's by default (an end-user's when the key
 * acts for one), a member of the organization, or an end-user of the application. A key acting
 * for an end-user names no one else.
 */
async function ownerOf(db: Executor, auth: AuthContext, input: OwnerInput | undefined): Promise<store.ConnectionOwner> {
  const owner: store.ConnectionOwner = input
    ? { type: input.type, id: input.id ?? null }
    : auth.endUserId
      ? { type: 'end_user', id: auth.endUserId }
      : { type: 'application', id: null };
  if (owner.type === 'application' && owner.id !== null) throw invalid('/owner/id', 'The application owns its connections itself: leave owner.id out.');
  if (owner.type !== 'application' && owner.id === null) throw invalid('/owner/id', `An owner of type ${owner.type} needs its id.`);
  if (auth.endUserId && (owner.type !== 'end_user' || owner.id !== auth.endUserId)) {
    throw new ProblemError('forbidden', `Acting for end-user ${auth.endUserId}, a request makes connections for that end-user only.`);
  }
  if (owner.type === 'user' && !(owner.id!.startsWith('user_') && (await isMember(db, auth.organizationId, owner.id!)))) {
    throw invalid('/owner/id', `${owner.id!} is no member of the organization.`);
  }
  if (
    owner.type === 'end_user' &&
    !(owner.id!.startsWith('eu_') && (await db('end_users').where({ id: owner.id!, application_id: auth.applicationId }).first('id')))
  ) {
    throw invalid('/owner/id', `${owner.id!} is no end-user of this application.`);
  }
  return owner;
}

/** Queues again the runs that waited for this owner's connection (each admitted afresh). */
async function wakeWaitingRuns(trx: Executor, row: store.ConnectionRow): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  for (const runId of await runsWaitingFor(trx, row.application_id, row.integration_id, { type: row.owner_type, id: row.owner_id })) {
    events.push(...(await readmitAfterConnection(trx, runId)));
  }
  return events;
}

/**
 * Stores an owner's credentials however they came (the API, a link's form, an OAuth callback):
 * the connection's event, and the runs that waited for it queued again (their events to publish).
 */
async function connect(
  trx: Executor,
  sealer: Sealer,
  integration: store.IntegrationRow,
  authType: store.AuthType,
  owner: store.ConnectionOwner,
  label: string | null,
  fresh: store.NewCredentials,
): Promise<{ row: store.ConnectionRow; events: StoredEvent[] }> {
  const { row, created } = await store.storeConnection(trx, sealer, integration, authType, owner, label, fresh);
  await recordEvent(trx, row.application_id, created ? 'connection.created' : 'connection.refreshed', store.toConnection(row));
  return { row, events: await wakeWaitingRuns(trx, row) };
}

type GivenCredentials = { apiKey?: string; username?: string; password?: string };

/** The credentials an `api_key` or `basic` provider takes, from what was given; 422 at `pointer` when they are not those. */
function credentialsFor(provider: ReturnType<typeof providerOf>, given: GivenCredentials, pointer: string): store.Credentials {
  const { apiKey, username, password } = given;
  if (provider.authType === 'api_key' && apiKey !== undefined && username === undefined && password === undefined) return { kind: 'api_key', apiKey };
  if (provider.authType === 'basic' && username !== undefined && password !== undefined && apiKey === undefined) return { kind: 'basic', username, password };
  const needs =
    provider.authType === 'oauth2'
      ? 'is made through a connect link (createConnectSession)'
      : `takes ${provider.authType === 'api_key' ? 'apiKey' : 'username and password'}`;
  throw invalid(pointer, `A connection of provider ${provider.id} (${provider.authType}) ${needs}.`);
}

/** Who may use a connection: a run, or a key acting for an end-user, only their own end-user's and the application's. */
function assertUsableBy(row: store.ConnectionRow, auth: AuthContext, run: RunTokenIdentity | undefined): void {
  const endUserId = run ? run.endUserId : auth.endUserId;
  if (!run && !endUserId) return;
  const owners = ownersOfRun({ end_user_id: endUserId ?? null });
  if (!owners.some((o) => o.type === row.owner_type && o.id === row.owner_id)) {
    throw new ProblemError(
      'forbidden',
      `Connection ${row.id} belongs to another owner than ${run ? "the run's end-user or application" : 'this end-user or the application'}.`,
    );
  }
}

/** Tokens that expire within this are refreshed before the proxy uses them. */
const REFRESH_AHEAD_MS = 60_000;

/** Headers the server sets on a proxied call, which a caller may not send. */
const RESERVED_HEADERS = new Set([
  'authorization',
  'cookie',
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-connection',
]);
/** Answer headers not passed back: cookies belong to the server's session with the provider, the rest to the hop. */
const DROPPED_ANSWER_HEADERS = new Set([
  'set-cookie',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'proxy-authenticate',
  'www-authenticate',
  'upgrade',
  'trailer',
]);

const TEXTUAL = /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded))/i;

/** The body as text when it is valid UTF-8; undefined otherwise (it is then sent in base64). */
function utf8(body: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return undefined;
  }
}

function answerHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || DROPPED_ANSWER_HEADERS.has(name)) continue;
    out[name] = (Array.isArray(value) ? value.join(', ') : value).slice(0, 8000);
  }
  return out;
}

/** The URL a proxied call goes to: on one of the provider's hosts, or 422. */
function targetOf(provider: ReturnType<typeof providerOf>, url: string): URL {
  let target: URL;
  try {
    target = url.startsWith('/') ? new URL(provider.apiBaseUrl.replace(/\/+$/, '') + url) : new URL(url);
  } catch {
    throw invalid('/url', `${url.slice(0, 200)} is not a URL.`);
  }
  if ((target.protocol !== 'https:' && target.protocol !== 'http:') || target.username || target.password) {
    throw invalid('/url', 'The proxy calls http(s) URLs without user name or password only.');
  }
  if (!provider.allowedHosts.includes(target.host.toLowerCase())) {
    throw invalid(
      '/url',
      `${target.host} is not among the hosts of provider ${provider.id} (${provider.allowedHosts.join(', ')}): the proxy calls those only.`,
    );
  }
  return target;
}

export const connectionHandlers = (bus: RunEventBus, sealer: Sealer) =>
  defineHandlers({
    listConnectionProviders: async ({ query }) => {
      const { providers } = connectionSettings();
      const page = query.page ?? 1;
      const pageSize = query.pageSize ?? 20;
      return {
        status: 200,
        body: {
          data: providers.slice((page - 1) * pageSize, page * pageSize),
          pagination: { page, pageSize, total: providers.length, totalPages: Math.ceil(providers.length / pageSize) },
        },
      };
    },

    listIntegrations: async ({ db, auth, query }) => ({ status: 200, body: await store.listIntegrations(db, auth.applicationId, query, authTypeOf) }),

    createIntegration: async ({ db, auth, body }) => {
      const provider = providerOf(body.providerId);
      if (provider.authType === 'oauth2' && !body.oauthClient) throw invalid('/oauthClient', `Provider ${provider.id} uses OAuth 2: give the OAuth client.`);
      if (provider.authType !== 'oauth2' && body.oauthClient)
        throw invalid('/oauthClient', `Provider ${provider.id} uses ${provider.authType}: it has no OAuth client.`);
      if (provider.authType !== 'oauth2' && body.scopes?.length)
        throw invalid('/scopes', `Provider ${provider.id} uses ${provider.authType}: it has no scopes.`);
      const row = await store.insertIntegration(db, sealer, auth.applicationId, {
        providerId: provider.id,
        clientId: body.oauthClient?.clientId ?? null,
        clientSecret: body.oauthClient?.clientSecret ?? null,
        scopes: body.scopes ?? [],
      });
      const integration = store.toIntegration(row, provider.authType);
      return { status: 201, body: integration, headers: { Location: `/api/v1/integrations/${integration.id}` } };
    },

    getIntegration: async ({ db, auth, path }) => {
      const row = await store.getIntegrationRow(db, auth.applicationId, path.integrationId);
      return { status: 200, body: store.toIntegration(row, authTypeOf(row.provider_id)) };
    },

    deleteIntegration: async ({ db, auth, path, checkIfMatch }) => {
      const row = await store.getIntegrationRow(db, auth.applicationId, path.integrationId, { forUpdate: true });
      checkIfMatch(store.toIntegration(row, authTypeOf(row.provider_id)));
      await db('integrations').where({ id: row.id }).delete();
      return { status: 204, body: undefined };
    },

    listConnections: async ({ db, auth, query }) => ({ status: 200, body: await store.listConnections(db, auth.applicationId, query) }),

    createConnection: async ({ db, auth, body, afterCommit }) => {
      const integration = await store.getIntegrationRow(db, auth.applicationId, body.integrationId);
      const provider = providerOf(integration.provider_id);
      const credentials = credentialsFor(provider, body.credentials, '/credentials');
      const owner = await ownerOf(db, auth, body.owner);
      const { row, events } = await connect(db, sealer, integration, provider.authType, owner, body.label ?? null, {
        credentials,
        scopes: [],
        expiresAt: null,
      });
      afterCommit(() => bus.publish(events));
      return { status: 201, body: store.toConnection(row), headers: { Location: `/api/v1/connections/${row.id}` } };
    },

    getConnection: async ({ db, auth, path }) => ({
      status: 200,
      body: store.toConnection(await store.getConnectionRow(db, auth.applicationId, path.connectionId)),
    }),

    deleteConnection: ownTransaction<'deleteConnection'>(async ({ db, auth, path, checkIfMatch, audit }) => {
      const row = await store.getConnectionRow(db, auth.applicationId, path.connectionId);
      checkIfMatch(store.toConnection(row));
      if (row.status === 'revoked') throw new ProblemError('invalid-transition', `Connection ${row.id} is revoked already.`);
      const provider = connectionSettings().providers.find((p) => p.id === row.provider_id);
      if (row.auth_type === 'oauth2' && provider?.oauth2?.revokeUrl) {
        const credentials = store.credentialsOf(sealer, row);
        const integration = (await db('integrations').where({ id: row.integration_id }).first()) as store.IntegrationRow;
        if (credentials.kind === 'oauth2') {
          const token = credentials.refreshToken ?? credentials.accessToken;
          // The provider being down does not keep a connection alive that its owner wants gone.
          await revokeToken(provider, clientOf(sealer, integration), token, credentials.refreshToken ? 'refresh_token' : 'access_token').catch(() => false);
        }
      }
      await db.transaction(async (trx) => {
        const current = await store.getConnectionRow(trx, auth.applicationId, row.id, { forUpdate: true });
        if (current.status === 'revoked') throw new ProblemError('invalid-transition', `Connection ${row.id} is revoked already.`);
        const revoked = store.toConnection(await store.setStatus(trx, current, 'revoked', 'Revoked through the API.'));
        await recordEvent(trx, revoked.applicationId, 'connection.revoked', revoked);
        await audit.record(trx, revoked, 204);
      });
      return { status: 204, body: undefined };
    }),

    refreshConnection: ownTransaction<'refreshConnection'>(async ({ db, auth, path, audit }) => {
      const row = await store.getConnectionRow(db, auth.applicationId, path.connectionId);
      const refreshed = store.toConnection(await refreshConnectionTokens(db, sealer, row));
      await db.transaction((trx) => audit.record(trx, refreshed, 200));
      return { status: 200, body: refreshed };
    }),

    proxyConnection: ownTransaction<'proxyConnection'>(async ({ db, auth, run, path, body, audit }) => {
      let row = await store.getConnectionRow(db, auth.applicationId, path.connectionId);
      assertUsableBy(row, auth, run);
      if (row.status !== 'active') throw new ProblemError('invalid-transition', `Connection ${row.id} is ${row.status}: its owner must connect again.`);
      const provider = providerOf(row.provider_id);
      const target = targetOf(provider, body.url);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(body.headers ?? {})) {
        const lower = name.toLowerCase();
        if (RESERVED_HEADERS.has(lower) || lower === provider.apiKey?.header.toLowerCase())
          throw invalid(`/headers/${name}`, `The header ${name} is the server's to set.`);
        headers[lower] = value;
      }
      if (row.auth_type === 'oauth2' && row.expires_at && Date.parse(row.expires_at) - nowMs() < REFRESH_AHEAD_MS) {
        row = await refreshConnectionTokens(db, sealer, row);
        if (row.status !== 'active') throw new ProblemError('invalid-transition', `Connection ${row.id} is ${row.status}: its owner must connect again.`);
      }
      const credentials = store.credentialsOf(sealer, row);
      if (credentials.kind === 'oauth2')
        headers.authorization = `${/^bearer$/i.test(credentials.tokenType) ? 'Bearer' : credentials.tokenType} ${credentials.accessToken}`;
      else if (credentials.kind === 'api_key') headers[provider.apiKey!.header.toLowerCase()] = `${provider.apiKey!.prefix}${credentials.apiKey}`;
      else headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
      let answer;
      try {
        answer = await connectionSettings().send({
          method: body.method,
          url: target,
          headers,
          ...(body.body !== undefined ? { body: Buffer.from(body.body, 'utf8') } : {}),
        });
      } catch (err) {
        if (err instanceof OutboundFailure && err.kind === 'too_large') throw new ProblemError('upstream-error', `The provider failed: ${err.message}.`);
        return upstreamProblem(err);
      }
      const contentType = answer.headers['content-type'] ?? '';
      const text = TEXTUAL.test(contentType) ? utf8(answer.body) : undefined;
      await db.transaction(async (trx) => {
        await store.markUsed(trx, row.id);
        // What was called and how it went; never a header, a query or a body, which may carry data or credentials.
        await audit.record(
          trx,
          { id: row.id, providerId: row.provider_id, method: body.method, host: target.host, path: target.pathname, status: answer.status },
          200,
        );
      });
      return {
        status: 200,
        body: {
          status: answer.status,
          headers: answerHeaders(answer.headers),
          body: text ?? answer.body.toString('base64'),
          bodyEncoding: text === undefined ? 'base64' : 'utf8',
        },
      };
    }),

    createConnectSession: async ({ db, auth, body }) => {
      const integration = await store.getIntegrationRow(db, auth.applicationId, body.integrationId);
      // A provider the operator removed since has no link to offer: 404.
      providerOf(integration.provider_id);
      const owner = await ownerOf(db, auth, body.owner);
      const session = await createSession(db, integration, owner, body.redirectUrl ?? null, (body.expiresInSeconds ?? 3600) * 1000);
      return { status: 201, body: session };
    },

    openConnectLink: ownTransaction<'openConnectLink'>(async ({ db, path, audit }) =>
      db.transaction(async (trx) => {
        const pending = await pendingSession(trx, path.connectToken);
        audit.describe({ applicationId: pending.row.application_id, resourceId: pending.row.id });
        // A form is only shown: the link is used up when it is submitted.
        if (pending.provider.authType !== 'oauth2') {
          await audit.record(trx, { sessionId: pending.row.id }, 200);
          return { status: 200, body: formPage(pending.provider), contentType: 'text/html; charset=utf-8', headers: PAGE_HEADERS };
        }
        const location = await openSession(trx, sealer, pending);
        await audit.record(trx, { sessionId: pending.row.id }, 302);
        return { status: 302, body: undefined, headers: { Location: location } };
      }),
    ),

    submitConnectForm: ownTransaction<'submitConnectForm'>(async ({ db, path, body, audit }) => {
      const { session, provider, row, events } = await db.transaction(async (trx) => {
        const pending = await pendingSession(trx, path.connectToken);
        if (pending.provider.authType === 'oauth2')
          throw new ProblemError('not-found', 'This connect link takes no form: open it, and it leads to the provider.');
        const credentials = credentialsFor(pending.provider, body, '');
        const taken = await completeFormSession(trx, pending);
        const integration = await store.getIntegrationRow(trx, taken.applicationId, taken.integrationId, { forUpdate: true });
        const made = await connect(trx, sealer, integration, pending.provider.authType, taken.owner, null, { credentials, scopes: [], expiresAt: null });
        audit.describe({ applicationId: taken.applicationId, resourceId: made.row.id });
        await audit.record(trx, store.toConnection(made.row), taken.redirectUrl ? 303 : 200);
        return { session: taken, provider: pending.provider, ...made };
      });
      await bus.publish(events);
      if (!session.redirectUrl) return { status: 200, body: connectedPage(provider), contentType: 'text/html; charset=utf-8', headers: PAGE_HEADERS };
      const back = new URL(session.redirectUrl);
      back.searchParams.set('status', 'connected');
      back.searchParams.set('connectionId', row.id);
      return {
        status: 303,
        body: undefined,
        headers: { Location: back.toString(), 'Referrer-Policy': PAGE_HEADERS['Referrer-Policy'], 'Cache-Control': PAGE_HEADERS['Cache-Control'] },
      };
    }),

    completeOAuthConnection: ownTransaction<'completeOAuthConnection'>(async ({ db, query, audit }) => {
      const session = await db.transaction((trx) => takeSession(trx, sealer, query.state));
      const integration = (await db('integrations').where({ id: session.integrationId }).first()) as store.IntegrationRow | undefined;
      const finish = (outcome: Record<string, string>) => {
        if (!session.redirectUrl) {
          const said =
            outcome.status === 'connected'
              ? 'Connected. You may close this window.'
              : `The connection was not made (${outcome.error ?? 'error'}). Ask for a new link.`;
          const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Switchboard</title></head><body><p>${said}</p></body></html>`;
          return { status: 200 as const, body: page, contentType: 'text/html; charset=utf-8' };
        }
        const back = new URL(session.redirectUrl);
        for (const [k, v] of Object.entries(outcome)) back.searchParams.set(k, v);
        return { status: 302 as const, body: undefined, headers: { Location: back.toString() } };
      };
      if (query.error || !query.code || !integration)
        return finish({ status: 'error', error: (query.error ?? 'missing_code').replace(/[^\w.-]/g, '').slice(0, 100) || 'error' });
      const provider = providerOf(integration.provider_id);
      const scopes = store.toIntegration(integration, provider.authType).scopes;
      let fresh: store.NewCredentials;
      try {
        fresh = await exchangeCode(provider, clientOf(sealer, integration), query.code, session.verifier, callbackUrl(), scopes);
      } catch (err) {
        if (!(err instanceof GrantRefused) && !(err instanceof ProblemError)) throw err;
        return finish({ status: 'error', error: 'exchange_failed' });
      }
      const { row, events } = await db.transaction(async (trx) => {
        const locked = await store.getIntegrationRow(trx, session.applicationId, integration.id, { forUpdate: true });
        const made = await connect(trx, sealer, locked, 'oauth2', session.owner, null, fresh);
        audit.describe({ applicationId: session.applicationId, resourceId: made.row.id });
        await audit.record(trx, store.toConnection(made.row), 302);
        return made;
      });
      await bus.publish(events);
      return finish({ status: 'connected', connectionId: row.id });
    }),
  });
