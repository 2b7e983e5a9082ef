import type { Context } from 'koa';
import { csrfTokenMatches, sameOrigin } from '../../auth/sessions.js';
import { ProblemError } from '../../problems/problems.js';
import type { OperationSpec } from '../../spec/operations.js';
import type { Caller } from './authenticate.js';
import { isWrite } from './authorise.js';

const refused = (detail: string) => new ProblemError('csrf-failed', detail);

/**
 * A browser sends its cookies with requests other sites make it send: a write under the session
 * cookie must come from this server's own pages (Origin) and present the session's CSRF token
 * (X-CSRF-Token, equal to the sb_csrf cookie). Bearer credentials are not sent by browsers on
 * their own, so they are exempt. Logging in and signing up from another site is refused as well
 * (login CSRF would sign a victim into the attacker's account).
 */
export function checkCsrf(ctx: Context, op: OperationSpec, caller: Caller): void {
  if (!isWrite(op)) return;
  if (caller.user?.kind === 'session') {
    if (!sameOrigin(ctx)) throw refused('This request comes from another origin: a write made with the session cookie must come from this server.');
    if (!csrfTokenMatches(ctx, caller.user.csrfHash!)) {
      throw refused('A write made with the session cookie must send X-CSRF-Token, equal to the sb_csrf cookie (the csrfToken returned at login).');
    }
    return;
  }
  // A trigger's caller and a link's page (which sends no referrer, hence `Origin: null`) hold their credential in the request itself.
  if (!op.secured && op.credential !== 'trigger' && op.credential !== 'link' && !sameOrigin(ctx)) throw refused('This request comes from another origin.');
}
