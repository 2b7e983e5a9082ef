import type { AuthContext } from '../../auth/identity.js';
import type { Attribution } from '../usage/store.js';

/**
 * Who a gateway call is attributed to, from what authenticated it (never from a header a caller
 * could forge): the application and key. The one place that decides it, so a credential that
 * names a run adds the run, its agent version and end-user here.
 */
export const attributionOf = (input: { auth: AuthContext }): Attribution => ({
  applicationId: input.auth.applicationId,
  keyId: input.auth.keyId,
  runId: null,
  agentId: null,
  agentVersion: null,
  endUserId: null,
});
