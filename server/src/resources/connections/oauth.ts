import type { ConnectionProvider } from '../../config/connection-providers.js';
import { ProblemError } from '../../problems/problems.js';
import { isoAfter } from '../../util/time.js';
import { OutboundFailure } from './outbound.js';
import { connectionSettings } from './settings.js';
import type { NewCredentials } from './store.js';

export type OAuthClient = { clientId: string; clientSecret: string | null };

/** The provider refused the grant (RFC 6749 `invalid_grant`): the owner must connect again. */
export class GrantRefused extends Error {}

/** A failure reaching the provider, as the problem the caller gets (never with a credential in it). */
export function upstreamProblem(err: unknown): never {
  if (err instanceof OutboundFailure)
    throw new ProblemError(err.kind === 'timeout' ? 'upstream-timeout' : 'upstream-error', `The provider failed: ${err.message}.`);
  throw err;
}

/** An error code as the provider wrote it, kept only when it looks like one (it is shown to people). */
const errorCode = (value: unknown) => (typeof value === 'string' && /^[\x20-\x7e]{1,100}$/.test(value) ? value : 'unknown_error');

/** Client authentication: HTTP Basic with the secret (RFC 6749 2.3.1), or the client id alone for a public client. */
function clientAuth(client: OAuthClient): { headers: Record<string, string>; params: Record<string, string> } {
  if (client.clientSecret === null) return { headers: {}, params: { client_id: client.clientId } };
  const basic = Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64');
  return { headers: { authorization: `Basic ${basic}` }, params: {} };
}

async function post(url: string, client: OAuthClient, params: Record<string, string>) {
  const auth = clientAuth(client);
  const body = Buffer.from(new URLSearchParams({ ...params, ...auth.params }).toString());
  try {
    return await connectionSettings().send({
      method: 'POST',
      url: new URL(url),
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...auth.headers },
      body,
    });
  } catch (err) {
    return upstreamProblem(err);
  }
}

/** The token endpoint's answer as credentials; `previous` keeps a refresh token the answer does not replace. */
async function tokenRequest(
  provider: ConnectionProvider,
  client: OAuthClient,
  params: Record<string, string>,
  previous?: string | null,
): Promise<NewCredentials> {
  const answer = await post(provider.oauth2!.tokenUrl, client, params);
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    // Not JSON: judged by its status below.
  }
  if (answer.status === 400 || answer.status === 401) {
    const code = errorCode(json.error);
    if (code === 'invalid_grant') throw new GrantRefused('The provider refused the grant (invalid_grant).');
    throw new ProblemError('upstream-error', `The provider's token endpoint refused the request: ${code}.`);
  }
  if (answer.status !== 200 || typeof json.access_token !== 'string' || !json.access_token) {
    throw new ProblemError('upstream-error', `The provider's token endpoint answered ${answer.status} without an access token.`);
  }
  const expiresIn = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : null;
  const granted = typeof json.scope === 'string' ? json.scope.split(/[ ,]+/).filter(Boolean) : (params.scope?.split(' ').filter(Boolean) ?? []);
  return {
    credentials: {
      kind: 'oauth2',
      accessToken: json.access_token,
      refreshToken: typeof json.refresh_token === 'string' && json.refresh_token ? json.refresh_token : (previous ?? null),
      tokenType: typeof json.token_type === 'string' ? json.token_type : 'Bearer',
    },
    scopes: granted.slice(0, 64).map((s) => s.slice(0, 200)),
    expiresAt: expiresIn === null ? null : isoAfter(expiresIn * 1000),
  };
}

export const exchangeCode = (provider: ConnectionProvider, client: OAuthClient, code: string, verifier: string, redirectUri: string, scopes: string[]) =>
  tokenRequest(provider, client, {
    grant_type: 'authorization_code',
    code,
    code_verifier: verifier,
    redirect_uri: redirectUri,
    ...(scopes.length ? { scope: scopes.join(' ') } : {}),
  });

export const refreshTokens = (provider: ConnectionProvider, client: OAuthClient, refreshToken: string) =>
  tokenRequest(provider, client, { grant_type: 'refresh_token', refresh_token: refreshToken }, refreshToken);

/** Tells the provider (RFC 7009) a token is no longer wanted; true when it said so. Failures are the caller's to ignore. */
export async function revokeToken(provider: ConnectionProvider, client: OAuthClient, token: string, hint: 'refresh_token' | 'access_token'): Promise<boolean> {
  if (!provider.oauth2?.revokeUrl) return false;
  const answer = await post(provider.oauth2.revokeUrl, client, { token, token_type_hint: hint });
  return answer.status === 200;
}
