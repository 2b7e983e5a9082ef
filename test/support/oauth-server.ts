import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * An OAuth 2 authorization server on loopback, for tests: an authorize endpoint that approves at
 * once and redirects back with a code; a token endpoint that checks client authentication, the
 * redirect URI and the PKCE S256 verifier, issues expiring access tokens with refresh tokens
 * (rotated on refresh), and answers `invalid_grant` for unknown or revoked refresh tokens or when
 * told to; a revocation endpoint (RFC 7009); and a protected API (`GET /api/me`) that checks the
 * bearer token, so a test sees what a proxy sent.
 */
export type OAuthServer = {
  url: string;
  host: string;
  clientId: string;
  clientSecret: string;
  /** The next refresh answers `invalid_grant`, whatever its token. */
  refuseNextRefresh(): void;
  /** Seconds the access tokens it issues live. */
  setExpiresIn(seconds: number): void;
  revoked: Set<string>;
  /** Access tokens ever issued (to look for them where they must not be). */
  issuedAccessTokens: string[];
  counts: { authorize: number; codeExchanges: number; refreshes: number; revocations: number; apiCalls: number };
  close(): Promise<void>;
};

const token = (prefix: string) => `${prefix}_${randomBytes(24).toString('hex')}`;

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Answers with JSON; true, so a handler can end with `return json(...)`. */
function json(res: ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
  return true;
}

export async function startOAuthServer(): Promise<OAuthServer> {
  const clientId = `client-${randomBytes(4).toString('hex')}`;
  const clientSecret = `secret-${randomBytes(16).toString('hex')}`;
  const codes = new Map<string, { challenge: string; redirectUri: string; scope: string }>();
  const access = new Map<string, number>();
  const refresh = new Set<string>();
  const revoked = new Set<string>();
  const issuedAccessTokens: string[] = [];
  const counts = { authorize: 0, codeExchanges: 0, refreshes: 0, revocations: 0, apiCalls: 0 };
  let refuseRefresh = false;
  let expiresIn = 3600;

  const issue = (scope: string) => {
    const accessToken = token('at');
    const refreshToken = token('rt');
    access.set(accessToken, Date.now() + expiresIn * 1000);
    refresh.add(refreshToken);
    issuedAccessTokens.push(accessToken);
    return { access_token: accessToken, token_type: 'bearer', expires_in: expiresIn, refresh_token: refreshToken, scope };
  };

  const clientAuthenticated = (req: IncomingMessage) => {
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    if (!basic) return false;
    const [id, secret] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':').map(decodeURIComponent);
    return id === clientId && secret === clientSecret;
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.method === 'GET' && url.pathname === '/authorize') {
        counts.authorize++;
        const q = url.searchParams;
        if (q.get('client_id') !== clientId || q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
          return json(res, 400, { error: 'invalid_request' });
        }
        const code = token('code');
        codes.set(code, { challenge: q.get('code_challenge')!, redirectUri: q.get('redirect_uri')!, scope: q.get('scope') ?? '' });
        const back = new URL(q.get('redirect_uri')!);
        back.searchParams.set('code', code);
        back.searchParams.set('state', q.get('state') ?? '');
        res.writeHead(302, { location: back.toString() });
        return res.end();
      }
      if (req.method === 'POST' && url.pathname === '/token') {
        if (!clientAuthenticated(req)) return json(res, 401, { error: 'invalid_client' });
        const form = await readForm(req);
        if (form.get('grant_type') === 'authorization_code') {
          counts.codeExchanges++;
          const grant = codes.get(form.get('code') ?? '');
          codes.delete(form.get('code') ?? '');
          const verifier = form.get('code_verifier') ?? '';
          const challenge = createHash('sha256').update(verifier).digest('base64url');
          if (!grant || grant.redirectUri !== form.get('redirect_uri') || grant.challenge !== challenge) return json(res, 400, { error: 'invalid_grant' });
          return json(res, 200, issue(grant.scope));
        }
        if (form.get('grant_type') === 'refresh_token') {
          counts.refreshes++;
          const old = form.get('refresh_token') ?? '';
          if (refuseRefresh || !refresh.has(old) || revoked.has(old)) {
            refuseRefresh = false;
            return json(res, 400, { error: 'invalid_grant', error_description: 'The refresh token is invalid.' });
          }
          refresh.delete(old);
          return json(res, 200, issue('read'));
        }
        return json(res, 400, { error: 'unsupported_grant_type' });
      }
      if (req.method === 'POST' && url.pathname === '/revoke') {
        if (!clientAuthenticated(req)) return json(res, 401, { error: 'invalid_client' });
        counts.revocations++;
        const t = (await readForm(req)).get('token') ?? '';
        revoked.add(t);
        refresh.delete(t);
        access.delete(t);
        res.writeHead(200);
        return res.end();
      }
      if (req.method === 'GET' && url.pathname === '/api/me') {
        counts.apiCalls++;
        const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
        const until = access.get(bearer);
        if (!until || until < Date.now()) return json(res, 401, { error: 'invalid_token' });
        return json(res, 200, { user: 'ada', accept: req.headers.accept ?? null });
      }
      if (req.method === 'GET' && url.pathname === '/api/latin1') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
      }
      if (req.method === 'GET' && url.pathname === '/api/redirect') {
        res.writeHead(302, { location: 'http://127.0.0.1:9/elsewhere' });
        return res.end();
      }
      return json(res, 404, { error: 'not_found' });
    })().catch(() => json(res, 500, { error: 'server_error' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    clientId,
    clientSecret,
    refuseNextRefresh: () => void (refuseRefresh = true),
    setExpiresIn: (seconds) => void (expiresIn = seconds),
    revoked,
    issuedAccessTokens,
    counts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * A catalogue of three providers on the loopback authorization server: `testoauth` (OAuth 2),
 * `testkey` (an API key in X-Api-Key) and `testbasic` (HTTP Basic, with a name a page must escape).
 */
export function testProvidersFile(oauth: { url: string; host: string }): string {
  const file = join(mkdtempSync(join(tmpdir(), 'sb-providers-')), 'providers.json');
  const providers = [
    {
      id: 'testoauth',
      name: 'Test OAuth',
      authType: 'oauth2',
      apiBaseUrl: `${oauth.url}/api`,
      allowedHosts: [oauth.host],
      oauth2: { authorizeUrl: `${oauth.url}/authorize`, tokenUrl: `${oauth.url}/token`, revokeUrl: `${oauth.url}/revoke`, scopes: ['read'] },
    },
    { id: 'testkey', authType: 'api_key', apiBaseUrl: `${oauth.url}/api`, allowedHosts: [oauth.host], apiKey: { header: 'X-Api-Key', prefix: '' } },
    { id: 'testbasic', name: 'Test <Basic> & "Co"', authType: 'basic', apiBaseUrl: `${oauth.url}/api`, allowedHosts: [oauth.host] },
  ];
  writeFileSync(file, JSON.stringify({ providers }));
  return file;
}
