import type { Config } from '../../config/config.js';
import type { ConnectionProvider } from '../../config/connection-providers.js';
import { notFound } from '../../problems/problems.js';
import { outbound, type Outbound } from './outbound.js';

/** How long a call to a provider may take, and the most it may answer (token endpoints and the proxy alike). */
const CALL_TIMEOUT_MS = 30_000;
export const MAX_ANSWER_BYTES = 1024 * 1024;

export type ConnectionSettings = {
  providers: ConnectionProvider[];
  publicUrl: string;
  send: Outbound;
};

let settings: ConnectionSettings = {
  providers: [],
  publicUrl: 'http://127.0.0.1:3000',
  send: outbound({ allowPrivate: false, allowList: [] }, CALL_TIMEOUT_MS, MAX_ANSWER_BYTES),
};

/**
 * Set once at start from the configuration: the catalogue, the public URL and the outbound
 * client are the server's, and the run admission (called from every place runs are created)
 * needs them as much as the handlers do.
 */
export function useConnectionSettings(config: Config['connections']): void {
  settings = { providers: config.providers, publicUrl: config.publicUrl, send: outbound(config.policy, CALL_TIMEOUT_MS, MAX_ANSWER_BYTES) };
}

export const connectionSettings = (): ConnectionSettings => settings;

/** A provider of the catalogue; a provider the operator removed since is 404 for what still names it. */
export function providerOf(id: string): ConnectionProvider {
  const provider = settings.providers.find((p) => p.id === id);
  if (!provider) throw notFound('connection provider', id);
  return provider;
}

export const authTypeOf = (providerId: string) => settings.providers.find((p) => p.id === providerId)?.authType ?? 'api_key';

/** Where providers send browsers back: register it with each OAuth app. */
export const callbackUrl = () => `${settings.publicUrl}/api/v1/oauth/callback`;
