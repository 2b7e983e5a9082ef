import type { Handlers } from '../http/handler-types.js';
import type { BundledSpec } from '../spec/load-spec.js';
import { agentHandlers } from './agents/handlers.js';
import { apiKeyHandlers } from './api-keys/handlers.js';
import { applicationHandlers } from './applications/handlers.js';
import { organizationHandlers } from './organization/organization.js';
import { systemHandlers } from './system/handlers.js';

/** Every operation of the spec, and nothing else: a missing or extra key is a compile error. */
export function allHandlers(spec: BundledSpec, checkDatabase: () => Promise<void>): Handlers {
  return {
    ...systemHandlers(spec, checkDatabase),
    ...organizationHandlers,
    ...applicationHandlers,
    ...apiKeyHandlers,
    ...agentHandlers,
  } satisfies Handlers;
}
