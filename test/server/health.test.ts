import { describe, expect, it } from 'vitest';
import { rawClient, send } from '../support/client.js';

describe('health and readiness', () => {
  it('answers /healthz and /readyz without credentials', async () => {
    const api = rawClient({ key: null });
    const health = await api.GET('/healthz');
    expect(health.response.status).toBe(200);
    expect(health.data).toEqual({ status: 'ok' });
    const ready = await api.GET('/readyz');
    expect(ready.data).toEqual({ status: 'ok', database: 'ok' });
    expect(ready.response.headers.get('request-id')).toMatch(/^req_[0-7][0-9a-hjkmnp-tv-z]{25}$/);
  });

  it('lists agents with the bootstrap admin key', async () => {
    const res = await send('/api/v1/agents');
    expect(res.status).toBe(200);
  });
});
