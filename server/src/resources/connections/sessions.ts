import { createHash, randomBytes } from 'node:crypto';
import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { generateSecret, hashSecret } from '../../auth/keys.js';
import { ProblemError } from '../../problems/problems.js';
import type { Sealer } from '../../security/sealer.js';
import { newId } from '../../util/ids.js';
import { isoAfter, nowIso } from '../../util/time.js';
import type { ConnectionProvider } from '../../config/connection-providers.js';
import { callbackUrl, connectionSettings } from './settings.js';
import type { ConnectionOwner, IntegrationRow } from './store.js';

export type ConnectSession = components['schemas']['ConnectSession'];

/**
 * An `oauth2` connect link goes `pending` → `opened` (the browser went to the provider with its
 * state and PKCE challenge) → `completed` (the callback took its code); an `api_key` or `basic`
 * one goes `pending` → `completed` when its form is submitted. Each step happens once.
 */
type SessionRow = {
  id: string;
  application_id: string;
  integration_id: string;
  owner_type: ConnectionOwner['type'];
  owner_id: string | null;
  token_hash: string;
  state_hash: string | null;
  verifier_sealed: string | null;
  redirect_url: string | null;
  status: 'pending' | 'opened' | 'completed';
  expires_at: string;
  created_at: string;
};

export const CONNECT_TOKEN_PREFIX = 'sbc_';

const gone = () => new ProblemError('not-found', 'This connect link is unknown, used or expired: ask for a new one.');

/** A connect link for an owner of an integration; only the token's hash is stored. */
export async function createSession(
  db: Executor,
  integration: IntegrationRow,
  owner: ConnectionOwner,
  redirectUrl: string | null,
  expiresInMs: number,
): Promise<ConnectSession> {
  const token = generateSecret(CONNECT_TOKEN_PREFIX);
  const row: SessionRow = {
    id: newId('cses'),
    application_id: integration.application_id,
    integration_id: integration.id,
    owner_type: owner.type,
    owner_id: owner.id,
    token_hash: hashSecret(token),
    state_hash: null,
    verifier_sealed: null,
    redirect_url: redirectUrl,
    status: 'pending',
    expires_at: isoAfter(expiresInMs),
    created_at: nowIso(),
  };
  await db('connect_sessions').insert(row);
  return {
    object: 'connect_session',
    integrationId: integration.id,
    owner,
    connectUrl: `${connectionSettings().publicUrl}/api/v1/connect/${token}`,
    redirectUrl,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
  };
}

const base64url = (bytes: Buffer) => bytes.toString('base64url');

export type PendingSession = { row: SessionRow; integration: IntegrationRow; provider: ConnectionProvider };

/** The link a token names while it may still be used, with its integration and provider; 404 otherwise. */
export async function pendingSession(db: Executor, token: string): Promise<PendingSession> {
  const row = (await db('connect_sessions')
    .where({ token_hash: hashSecret(token) })
    .first()) as SessionRow | undefined;
  if (!row || row.status !== 'pending' || row.expires_at <= nowIso()) throw gone();
  const integration = (await db('integrations').where({ id: row.integration_id }).first()) as IntegrationRow | undefined;
  const provider = integration && connectionSettings().providers.find((p) => p.id === integration.provider_id);
  if (!integration || !provider) throw gone();
  return { row, integration, provider };
}

/**
 * Opens an `oauth2` link, once: a fresh `state` and PKCE verifier (RFC 7636, S256), the verifier
 * sealed until the callback; the provider's authorization URL to send the browser to.
 */
export async function openSession(db: Executor, sealer: Sealer, { row, integration, provider }: PendingSession): Promise<string> {
  if (!integration.client_id || !provider.oauth2) throw gone();
  const state = base64url(randomBytes(32));
  const verifier = base64url(randomBytes(32));
  const opened = await db('connect_sessions')
    .where({ id: row.id, status: 'pending' })
    .update({ status: 'opened', state_hash: hashSecret(state), verifier_sealed: sealer.seal(verifier, row.application_id) });
  if (opened !== 1) throw gone();
  const scopes = JSON.parse(integration.scopes) as string[];
  const url = new URL(provider.oauth2.authorizeUrl);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', integration.client_id);
  url.searchParams.set('redirect_uri', callbackUrl());
  const asked = scopes.length ? scopes : provider.oauth2.scopes;
  if (asked.length) url.searchParams.set('scope', asked.join(' '));
  url.searchParams.set('state', state);
  url.searchParams.set('code_challenge', base64url(createHash('sha256').update(verifier).digest()));
  url.searchParams.set('code_challenge_method', 'S256');
  return url.toString();
}

export type OpenedSession = { id: string; applicationId: string; integrationId: string; owner: ConnectionOwner; redirectUrl: string | null; verifier: string };

/** What a used-up link says of the connection it makes, however it was completed. */
const takenSession = (row: SessionRow): Omit<OpenedSession, 'verifier'> => ({
  id: row.id,
  applicationId: row.application_id,
  integrationId: row.integration_id,
  owner: { type: row.owner_type, id: row.owner_id },
  redirectUrl: row.redirect_url,
});

/** Uses up a pending `api_key` or `basic` link whose form was submitted (a second submission finds nothing). */
export async function completeFormSession(db: Executor, { row }: PendingSession): Promise<Omit<OpenedSession, 'verifier'>> {
  const taken = await db('connect_sessions').where({ id: row.id, status: 'pending' }).where('expires_at', '>', nowIso()).update({ status: 'completed' });
  if (taken !== 1) throw gone();
  return takenSession(row);
}

/** Takes the opened link a callback's `state` names, once (a replayed callback finds nothing). */
export async function takeSession(db: Executor, sealer: Sealer, state: string): Promise<OpenedSession> {
  const row = (await db('connect_sessions')
    .where({ state_hash: hashSecret(state) })
    .first()) as SessionRow | undefined;
  if (!row || row.status !== 'opened' || !row.verifier_sealed) throw gone();
  const taken = await db('connect_sessions').where({ id: row.id, status: 'opened' }).update({ status: 'completed', verifier_sealed: null });
  if (taken !== 1) throw gone();
  return { ...takenSession(row), verifier: sealer.open(row.verifier_sealed, row.application_id) };
}
