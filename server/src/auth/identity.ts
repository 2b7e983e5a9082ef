import type { Scope } from '../spec/operations.js';

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
};

/**
 * Who a request is and the application it acts in: an application key (in its own application, or
 * the one an admin key chose with X-App-Id), or on the AI gateway's operations a run token (in its
 * run's application, with what the `write` scope allows; handlers find the run in their `run`).
 */
export type AuthContext =
  | (KeyIdentity & { applicationId: string })
  | {
      kind: 'run_token';
      /** A run token is no key. */
      keyId: null;
      organizationId: string;
      applicationId: string;
      /** The run's application, the only one a run token acts in. */
      keyApplicationId: string;
      scopes: Scope[];
    };
