import { ProblemError } from '../problems/problems.js';
import type { Scope } from '../spec/operations.js';
import type { Role } from './roles.js';

/** An application key as authenticated, before the application it acts in is resolved. */
export type KeyIdentity = {
  kind: 'application_key';
  keyId: string;
  organizationId: string;
  /** The application the key belongs to. */
  keyApplicationId: string;
  scopes: Scope[];
  /** The model aliases the key may call through the gateway; null allows every alias (see modelAllowedForKey). */
  allowedModels: string[] | null;
  /** The API version the key pins its requests to; null follows its organization's. */
  apiVersion: string | null;
};

/**
 * A person, by a personal token or a session cookie, before the organization they act in is
 * resolved: a token names its own (with the role its user holds there now), a session takes it
 * from X-Org-Id or the user's only membership.
 */
export type UserIdentity = {
  kind: 'personal_token' | 'session';
  userId: string;
  /** The `pat_` or `sess_` id. */
  credentialId: string;
  token?: { organizationId: string; role: Role; scopes: Scope[] };
  /** A session's CSRF token, hashed: cookie-authenticated writes must present it. */
  csrfHash?: string;
};

/** A person acting in an organization (and, on application-scoped operations, in one of its applications). */
export type UserAuth = {
  kind: 'personal_token' | 'session';
  /** A person is no key. */
  keyId: null;
  userId: string;
  credentialId: string;
  organizationId: string;
  role: Role;
  applicationId: string;
  keyApplicationId: null;
  /** What the person may do here: a session, what the role allows; a token, its scopes within that. */
  scopes: Scope[];
};

/**
 * Who a request is and the application it acts in: an application key (in its own application, or
 * the one an admin key chose with X-App-Id), a person (in the application X-App-Id names), or on the
 * AI gateway's operations a run token (in its run's application, with what the `write` scope
 * allows; handlers find the run in their `run`).
 */
export type AuthContext = (
  | (KeyIdentity & { applicationId: string })
  | UserAuth
  | {
      kind: 'run_token';
      /** A run token is no key. */
      keyId: null;
      organizationId: string;
      applicationId: string;
      /** The run's application, the only one a run token acts in. */
      keyApplicationId: string;
      scopes: Scope[];
    }
  | {
      kind: 'end_user_token';
      keyId: null;
      organizationId: string;
      applicationId: string;
      keyApplicationId: string;
      scopes: Scope[];
    }
) & {
  /**
   * The end-user the request acts for (Switchboard-User, or an end-user token's own): lists and
   * streams of runs hold theirs only, another's run is not found, and the runs it starts are theirs.
   */
  endUserId?: string;
};

/**
 * The rows a request sees of a table with `application_id` and `end_user_id` (runs, threads): its
 * application's, and only its end-user's when it acts for one.
 */
export const rowsSeenBy = (auth: AuthContext): { application_id: string; end_user_id?: string } => ({
  application_id: auth.applicationId,
  ...(auth.endUserId ? { end_user_id: auth.endUserId } : {}),
});

/** The person behind a request, when a person (session or personal token) makes it. */
export const personOf = (auth: AuthContext): UserAuth | undefined => (auth.kind === 'session' || auth.kind === 'personal_token' ? auth : undefined);

/** The key or person behind a request: usage and runs are attributed to them. */
export type Caller = { keyId: string | null; userId: string | null };
export const callerOf = (auth: AuthContext): Caller => ({ keyId: auth.keyId, userId: personOf(auth)?.userId ?? null });

/** Owners alone grant (or invite to), take away or remove the owner role; keys are no one's owner. */
export function assertMayTouchOwners(auth: AuthContext, ...roles: Role[]): void {
  if (!roles.includes('owner') || personOf(auth)?.role === 'owner') return;
  throw new ProblemError('forbidden', 'Only an owner of the organization may grant or take away the owner role, invite an owner, or remove one.');
}

/**
 * A person on an organization-level operation names no application: reading `applicationId` there
 * is a handler asking for one the request did not give, answered as the client's omission.
 */
export function withoutApplication(auth: Omit<UserAuth, 'applicationId'>): UserAuth {
  return Object.defineProperty({ ...auth } as UserAuth, 'applicationId', {
    enumerable: false,
    get: () => {
      throw new ProblemError('app-id-required', 'This operation acts in one application: name it with the X-App-Id header.');
    },
  });
}

/** On operations about their own account: the person, and the organization a request names or implies (none when it is open). */
export type UserContext = {
  kind: UserIdentity['kind'];
  userId: string;
  credentialId: string;
  organizationId: string | null;
  role: Role | null;
  /** A session may do anything to its own account; a token, what its scopes allow within its role. */
  scopes: Scope[];
};
