import { defineStateMachine } from '../state-machine.js';

/** A key's status follows from its revocation and expiry; only an active key can be rotated, any key not yet revoked revoked. */
export const apiKeyMachine = defineStateMachine({
  statuses: ['active', 'expired', 'revoked'],
  refusal: (action, current) => `Cannot ${action} an API key that is ${current}.`,
  transitions: {
    revoke: { from: ['active', 'expired'], to: 'revoked', event: 'api_key.revoked', refusal: () => 'The API key is already revoked.' },
    rotate: { from: ['active'], event: 'api_key.rotated' },
  },
});
