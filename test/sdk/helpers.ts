import { inject } from 'vitest';
import { Switchboard } from '@switchboard/sdk';
import { uniqueName } from '../support/client.js';
import { isolatedApp } from '../server/run-helpers.js';

export { uniqueName };
export const REQUEST_ID = /^req_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A well-formed TypeID that names nothing. */
export const absent = (prefix: 'agent' | 'run' | 'runner') => `${prefix}_01jd4x7p2kf8q6v3b9m5t0s1ab`;

/** A token safe in names, labels and `q` filters, unique across parallel files. */
export const token = () =>
  uniqueName('t')
    .replace(/[^a-z0-9]/gi, '')
    .toLowerCase();

/**
 * An application of this file's own (created with a fresh admin key from the bootstrap key), an
 * admin key that belongs to it, and an SDK client on the shared server with that key.
 */
export async function ownApp(name: string): Promise<{ appId: string; key: string; sb: Switchboard; serverUrl: string }> {
  const app = await isolatedApp(uniqueName(name));
  const serverUrl = inject('serverUrl');
  return { appId: app.appId, key: app.key, serverUrl, sb: new Switchboard({ baseUrl: serverUrl, apiKey: app.key }) };
}

/** Polls `condition` (bounded) until it holds; throws naming `what` otherwise. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, tries = 600, stepMs = 25): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await condition()) return;
    await sleep(stepMs);
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** How many agents of the application have `q` in their name, counted by the real server. */
export async function countAgents(sb: Switchboard, q: string): Promise<number> {
  return (await sb.agents.list({ q, pageSize: 100 })).pagination.total;
}
