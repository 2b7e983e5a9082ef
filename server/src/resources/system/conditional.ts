import { hash } from 'node:crypto';
import type { Context } from 'koa';
import fresh from 'fresh';

/**
 * A weak entity tag of a document: weak because the same document goes out gzip, br or identity
 * (Vary: Accept-Encoding), byte-different representations a strong tag would have to tell apart.
 */
export const weakEtagOf = (content: string | Buffer) => `W/"${hash('sha256', content, 'base64url').slice(0, 27)}"`;

/**
 * RFC 9110 If-None-Match (weak comparison, `*`) on a GET: the client's copy is current. Only that
 * header is passed on: `fresh` would also answer "changed" to a request's `Cache-Control: no-cache`,
 * which fetch() adds to every conditional request, while an origin server evaluates the
 * precondition regardless (RFC 9110, section 13.2.1).
 */
export const notModified = (ctx: Context, etag: string) => fresh({ 'if-none-match': ctx.get('if-none-match') || undefined }, { etag });
