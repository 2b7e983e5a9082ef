import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { Config } from '../config/config.js';
import type { Executor } from '../db/database.js';
import { newId } from '../util/ids.js';
import { nowIso } from '../util/time.js';
import type { UserIdentity } from './identity.js';
import { generateSecret, hashSecret, hashesEqual } from './keys.js';
import { unauthorized } from './authenticate.js';

export const SESSION_COOKIE = 'sb_session';
export const CSRF_COOKIE = 'sb_csrf';
const SESSION_TOKEN_PREFIX = 'sbs_';
const SESSION_TOKEN = /^sbs_[A-Za-z0-9_-]{43}$/;

/** How often a session's last use (and so its sliding idle expiry) is written: a page makes many requests a minute. */
const LAST_SEEN_RESOLUTION_MS = 60_000;

export type SessionLifetimes = { idleMs: number; absoluteMs: number };
export const sessionLifetimes = (config: Pick<Config, 'identity'>): SessionLifetimes => ({
  idleMs: config.identity.sessionIdleMs,
  absoluteMs: config.identity.sessionAbsoluteMs,
});

type SessionRow = {
  id: string;
  user_id: string;
  csrf_hash: string;
  last_seen_at: string;
  idle_expires_at: string;
  absolute_expires_at: string;
  revoked_at: string | null;
  disabled_at: string | null;
};

/** The session a cookie names, if it is live: not revoked, idle or past its absolute end, and its user not disabled. */
export async function authenticateSession(db: Executor, token: string | undefined, lifetimes: SessionLifetimes): Promise<UserIdentity> {
  if (!token || !SESSION_TOKEN.test(token)) throw unauthorized();
  const hash = hashSecret(token);
  const row = await db('sessions')
    .join('users', 'users.id', 'sessions.user_id')
    .where('sessions.token_hash', hash)
    .first<SessionRow | undefined>(
      'sessions.id',
      'sessions.user_id',
      'sessions.csrf_hash',
      'sessions.last_seen_at',
      'sessions.idle_expires_at',
      'sessions.absolute_expires_at',
      'sessions.revoked_at',
      'users.disabled_at',
    );
  const now = nowIso();
  if (!row || row.revoked_at || row.disabled_at || row.idle_expires_at <= now || row.absolute_expires_at <= now) throw unauthorized();
  const nowMs = Date.parse(now);
  if (nowMs - Date.parse(row.last_seen_at) > LAST_SEEN_RESOLUTION_MS) {
    const idle = new Date(Math.min(nowMs + lifetimes.idleMs, Date.parse(row.absolute_expires_at))).toISOString();
    await db('sessions').where({ id: row.id }).update({ last_seen_at: now, idle_expires_at: idle, updated_at: now });
  }
  return { kind: 'session', userId: row.user_id, credentialId: row.id, csrfHash: row.csrf_hash };
}

export type NewSession = { id: string; token: string; csrfToken: string };

/** A new session for the user, with fresh secrets: never one the client brought (session fixation). */
export async function insertSession(
  db: Executor,
  userId: string,
  client: { ip: string | null; userAgent: string | null },
  lifetimes: SessionLifetimes,
): Promise<NewSession> {
  const token = generateSecret(SESSION_TOKEN_PREFIX);
  const csrfToken = randomBytes(32).toString('base64url');
  const now = nowIso();
  const nowMs = Date.parse(now);
  const session = {
    id: newId('sess'),
    user_id: userId,
    token_hash: hashSecret(token),
    csrf_hash: hashSecret(csrfToken),
    ip: client.ip?.slice(0, 64) ?? null,
    user_agent: client.userAgent?.slice(0, 500) || null,
    last_seen_at: now,
    idle_expires_at: new Date(nowMs + lifetimes.idleMs).toISOString(),
    absolute_expires_at: new Date(nowMs + lifetimes.absoluteMs).toISOString(),
    revoked_at: null,
    created_at: now,
    updated_at: now,
  };
  await db('sessions').insert(session);
  return { id: session.id, token, csrfToken };
}

/** Revokes the session a cookie names, if any (logout, and a new login over an old session). */
export async function revokeSessionByToken(db: Executor, token: string | undefined): Promise<void> {
  if (!token || !SESSION_TOKEN.test(token)) return;
  const now = nowIso();
  await db('sessions')
    .where({ token_hash: hashSecret(token) })
    .whereNull('revoked_at')
    .update({ revoked_at: now, updated_at: now });
}

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[?::1\]?)$/i;

/** Cookies are `Secure` unless the server is reached on a loopback address (local development over plain http). */
const secureFor = (ctx: Context) => !LOOPBACK_HOST.test(ctx.hostname);

function cookie(ctx: Context, name: string, value: string, maxAgeSeconds: number, httpOnly: boolean): string {
  return [
    `${name}=${value}`,
    'Path=/',
    `Max-Age=${maxAgeSeconds}`,
    ...(httpOnly ? ['HttpOnly'] : []),
    'SameSite=Lax',
    ...(secureFor(ctx) ? ['Secure'] : []),
  ].join('; ');
}

/**
 * The session cookie (HttpOnly: scripts never see it) and the CSRF cookie (readable by the page's
 * own scripts, which echo it in X-CSRF-Token: the double submit), both living as long as the session may.
 */
export function sessionCookies(ctx: Context, session: NewSession, absoluteMs: number): string[] {
  const maxAge = Math.floor(absoluteMs / 1000);
  return [cookie(ctx, SESSION_COOKIE, session.token, maxAge, true), cookie(ctx, CSRF_COOKIE, session.csrfToken, maxAge, false)];
}

export const clearedSessionCookies = (ctx: Context): string[] => [cookie(ctx, SESSION_COOKIE, '', 0, true), cookie(ctx, CSRF_COOKIE, '', 0, false)];

export const sessionTokenOf = (ctx: Context): string | undefined => ctx.cookies.get(SESSION_COOKIE) || undefined;

/** A write under a cookie presents the session's CSRF token in X-CSRF-Token, the same as its CSRF cookie. */
export function csrfTokenMatches(ctx: Context, csrfHash: string): boolean {
  const header = ctx.get('x-csrf-token');
  const cookieValue = ctx.cookies.get(CSRF_COOKIE);
  return Boolean(header) && header === cookieValue && hashesEqual(hashSecret(header), csrfHash);
}

/**
 * A browser says where a request comes from (Origin, else Referer): it must be this server, as the
 * client reached it. Clients that send neither are not browsers, and the CSRF token still binds them.
 */
export function sameOrigin(ctx: Context): boolean {
  const source = ctx.get('origin') || ctx.get('referer');
  if (!source) return true;
  if (!URL.canParse(source)) return false;
  return new URL(source).host.toLowerCase() === ctx.host.toLowerCase();
}
