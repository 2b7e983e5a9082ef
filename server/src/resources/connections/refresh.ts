import type { Db } from '../../db/database.js';
import { ProblemError } from '../../problems/problems.js';
import type { Sealer } from '../../security/sealer.js';
import { recordEvent } from '../webhooks/outbox.js';
import { GrantRefused, refreshTokens, type OAuthClient } from './oauth.js';
import { providerOf } from './settings.js';
import * as store from './store.js';

export const clientOf = (sealer: Sealer, integration: store.IntegrationRow): OAuthClient => ({
  clientId: integration.client_id ?? '',
  clientSecret: store.clientSecretOf(sealer, integration),
});

/**
 * Refreshes an `oauth2` connection's tokens outside any transaction (the provider may be slow),
 * then stores the outcome if nothing changed meanwhile: a concurrent refresh that won is kept,
 * and its rotation of the refresh token does not read as `invalid_grant`.
 */
export async function refreshConnectionTokens(db: Db, sealer: Sealer, row: store.ConnectionRow): Promise<store.ConnectionRow> {
  if (row.auth_type !== 'oauth2' || row.status === 'revoked') {
    throw new ProblemError(
      'invalid-transition',
      `Connection ${row.id} is a ${row.status} ${row.auth_type} connection: only oauth2 connections that are not revoked refresh.`,
    );
  }
  const credentials = store.credentialsOf(sealer, row);
  const provider = providerOf(row.provider_id);
  const integration = (await db('integrations').where({ id: row.integration_id }).first()) as store.IntegrationRow;
  let outcome: { fresh: store.NewCredentials } | { refused: string };
  if (credentials.kind !== 'oauth2' || !credentials.refreshToken) outcome = { refused: 'The provider gave no refresh token: connect again.' };
  else {
    try {
      outcome = { fresh: await refreshTokens(provider, clientOf(sealer, integration), credentials.refreshToken) };
    } catch (err) {
      if (!(err instanceof GrantRefused)) throw err;
      outcome = { refused: 'The provider refused the refresh token (invalid_grant): connect again.' };
    }
  }
  return db.transaction(async (trx) => {
    const current = await store.getConnectionRow(trx, row.application_id, row.id, { forUpdate: true });
    if (current.credentials_version !== row.credentials_version || current.status === 'revoked') return current;
    const next =
      'fresh' in outcome
        ? await store.storeRefreshed(trx, sealer, current, outcome.fresh)
        : await store.setStatus(trx, current, 'needs_reauth', outcome.refused);
    await recordEvent(trx, next.application_id, 'fresh' in outcome ? 'connection.refreshed' : 'connection.needs_reauth', store.toConnection(next));
    return next;
  });
}
