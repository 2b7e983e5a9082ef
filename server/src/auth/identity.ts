import type { Scope } from '../spec/operations.js';

/** Who a request with an application key is: the key, and the application it acts in. */
export type AuthContext = {
  kind: 'application_key';
  keyId: string;
  organizationId: string;
  /** The application this request acts in (the key's own, or the one an admin key chose with X-App-Id). */
  applicationId: string;
  /** The application the key belongs to. */
  keyApplicationId: string;
  scopes: Scope[];
  /** The model aliases the key may call through the gateway; null allows every alias (see modelAllowedForKey). */
  allowedModels: string[] | null;
};

/** A key as authenticated, before the application it acts in is resolved. */
export type KeyIdentity = Omit<AuthContext, 'applicationId'>;
