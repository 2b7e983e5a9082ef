import { describe, expect, inject, it } from 'vitest';
import { Switchboard, SwitchboardError } from '@switchboard/sdk';
import { loadBundledSpec, extractOperations } from '@switchboard/server';
import { sdkCalls } from './sdk-calls.js';

const operationIds = extractOperations(loadBundledSpec().document).map((o) => o.operationId);

/** Front-end developers build against Prism's mock: the SDK must work against it for every operation. */
describe('the SDK against the Prism mock', () => {
  const sb = new Switchboard({ baseUrl: inject('mockUrl'), apiKey: `sbk_${'a'.repeat(43)}` });
  const runner = new Switchboard({ baseUrl: inject('mockUrl'), apiKey: `sbr_${'a'.repeat(43)}` });
  const person = new Switchboard({ baseUrl: inject('mockUrl'), apiKey: '', session: { token: `sbs_${'a'.repeat(43)}`, csrfToken: 'a'.repeat(43) } });
  const calls = sdkCalls(sb, runner, person);

  it('has a call for every operation of the spec', () => {
    expect(Object.keys(calls).sort()).toEqual([...operationIds].sort());
  });

  it.each(operationIds)('%s succeeds against the mock', async (operationId) => {
    // Prism answers with the spec's examples and rejects a request that breaks the spec (the call then throws).
    await calls[operationId]!();
  });

  it('maps a mocked error to a SwitchboardError with the problem', async () => {
    const mocked = new Switchboard({
      baseUrl: inject('mockUrl'),
      apiKey: `sbk_${'a'.repeat(43)}`,
      fetch: (input, init) => {
        const req = new Request(input, init);
        req.headers.set('Prefer', 'code=404');
        return fetch(req);
      },
    });
    const err = await mocked.agents.get('agent_01jd4x7p2kf8q6v3b9m5t0s1ab').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).status).toBe(404);
    expect((err as SwitchboardError).code).toBe('not-found');
  });
});
