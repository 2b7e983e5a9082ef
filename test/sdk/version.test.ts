import { beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, Switchboard } from '@switchboard/sdk';
import { ownApp } from './helpers.js';

const FIRST = '2026-11-01';

let serverUrl: string;
let pinnedKey: string;

beforeAll(async () => {
  const app = await ownApp('sdk version');
  serverUrl = app.serverUrl;
  // A key pinned to the first version: what a client sending no version would be answered in.
  const admin = new Switchboard({ baseUrl: serverUrl, apiKey: app.key });
  pinnedKey = (await admin.apiKeys.create({ name: 'pinned to the first version', scopes: ['read'], apiVersion: FIRST })).secret;
});

describe('the API version the SDK speaks', () => {
  it('is the one it was generated for (the spec it was generated from), whatever the key is pinned to', async () => {
    const sb = new Switchboard({ baseUrl: serverUrl, apiKey: pinnedKey });
    const { response } = await sb.agents.list().withResponse();
    expect(response.headers.get('switchboard-version')).toBe(API_VERSION);
    const { data } = await sb.versions.list().withResponse();
    expect(data.data.at(-1)).toMatchObject({ version: API_VERSION, status: 'current' });
  });

  it('is another one when told, and none with `version: null` (the key or organization pin applies)', async () => {
    const told = await new Switchboard({ baseUrl: serverUrl, apiKey: pinnedKey, version: FIRST }).agents.list().withResponse();
    expect(told.response.headers.get('switchboard-version')).toBe(FIRST);
    const pinned = await new Switchboard({ baseUrl: serverUrl, apiKey: pinnedKey, version: null }).agents.list().withResponse();
    expect(pinned.response.headers.get('switchboard-version')).toBe(FIRST);
  });
});
