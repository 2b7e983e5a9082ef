import type { TestProject } from 'vitest/node';
import { startOAuthServer, testProvidersFile } from './oauth-server.js';
import { startPrism, type PrismProcess } from './prism.js';
import { startServerProcess } from './server-process.js';

declare module 'vitest' {
  export interface ProvidedContext {
    serverUrl: string;
    adminKey: string;
    /** `prism proxy --errors`: any request or response that breaks the spec becomes an error. */
    proxyUrl: string;
    /** `prism proxy` without --errors: forwards everything and reports violations in `sl-violations`. */
    auditUrl: string;
    mockUrl: string;
    databaseKind: 'sqlite' | 'postgres';
    /** The shared server's database, for tests that check what is (not) stored. */
    databaseUrl: string;
    /**
     * Admin keys of the bootstrap application that create the suites' keys (`createKey`), so the
     * files starting at once share several write budgets instead of the bootstrap key's one.
     */
    keyFactories: string[];
    /** The first user of the shared server: the owner of its bootstrap organization (the admin key's). */
    operator: { email: string; password: string };
    /** The OAuth client of the loopback authorization server behind the shared server's `testoauth` provider (`testkey` is an API-key provider on it). */
    oauthClient: { clientId: string; clientSecret: string };
  }
}

/** How many write budgets the suites' key creation is spread over. */
const KEY_FACTORIES = 6;

async function keyFactories(url: string, adminKey: string): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < KEY_FACTORIES; i++) {
    const res = await fetch(`${url}/api/v1/api-keys`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${adminKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: `key factory ${String(i + 1)}`, scopes: ['admin'] }),
    });
    if (res.status !== 201) throw new Error(`creating a key factory failed: ${res.status} ${await res.text()}`);
    keys.push(((await res.json()) as { secret: string }).secret);
  }
  return keys;
}

/** One server for the suites that share it, with Prism proxying it and Prism mocking the spec. */
export default async function setup(project: TestProject) {
  // The suites' webhook receivers, http agents and test model providers listen on loopback, which a server refuses by default.
  const oauth = await startOAuthServer();
  const server = await startServerProcess({
    SWITCHBOARD_CONNECTION_PROVIDERS_FILE: testProvidersFile(oauth),
    CONNECTION_ALLOW_PRIVATE_ADDRESSES: 'true',
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
    RUNNER_ALLOW_PRIVATE_ADDRESSES: 'true',
    MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES: 'true',
    // Every suite signs its people up, each into an organization of their own, all from 127.0.0.1.
    SIGNUP: 'open',
    RATE_LIMIT_COSTLY: '1000',
  });
  // Signed up before any suite runs, so the bootstrap organization's owner is known (and no suite's person becomes it by chance).
  const operator = { email: 'operator@example.com', password: 'operator password 0123' };
  const signup = await fetch(`${server.url}/api/v1/auth/signup`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...operator, name: 'Operator' }),
  });
  if (signup.status !== 201) throw new Error(`signing the operator up failed: ${signup.status} ${await signup.text()}`);
  const prisms = await Promise.allSettled([
    startPrism({ kind: 'proxy', upstream: server.url, errors: true }),
    startPrism({ kind: 'proxy', upstream: server.url, errors: false }),
    startPrism({ kind: 'mock' }),
  ]);
  const failed = prisms.find((p) => p.status === 'rejected');
  if (failed) {
    // Nothing runs without them: stop what started, so a failed setup leaves no server behind.
    await Promise.all(prisms.flatMap((p) => (p.status === 'fulfilled' ? [p.value.stop()] : [])));
    await server.stop();
    await oauth.close();
    throw failed.reason;
  }
  const [proxy, audit, mock] = prisms.map((p) => (p as PromiseFulfilledResult<PrismProcess>).value) as [PrismProcess, PrismProcess, PrismProcess];
  project.provide('serverUrl', server.url);
  project.provide('adminKey', server.adminKey);
  project.provide('keyFactories', await keyFactories(server.url, server.adminKey));
  project.provide('proxyUrl', proxy.url);
  project.provide('auditUrl', audit.url);
  project.provide('mockUrl', mock.url);
  project.provide('databaseKind', server.database.kind);
  project.provide('databaseUrl', server.database.url);
  project.provide('operator', operator);
  project.provide('oauthClient', { clientId: oauth.clientId, clientSecret: oauth.clientSecret });
  return async () => {
    await Promise.all([proxy.stop(), audit.stop(), mock.stop()]);
    await server.stop();
    await oauth.close();
  };
}
