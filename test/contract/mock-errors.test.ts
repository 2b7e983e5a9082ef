import { describe, expect, inject, it } from 'vitest';

type Violation = { location: string[]; code: string; message: string };

/**
 * Prism answers a request that breaks the spec with the spec's own 422 (its example body, RFC 9457
 * with our fields) and names the actual violations in the `sl-violations` header: what the README
 * tells front-end developers to read.
 */
describe('the Prism mock refusing a request that breaks the spec', () => {
  it('answers 422 problem+json and lists the actual violations in sl-violations', async () => {
    const res = await fetch(`${inject('mockUrl')}/api/v1/agents`, {
      method: 'POST',
      headers: { Authorization: `Bearer sbk_${'a'.repeat(43)}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 5 }),
    });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({ status: 422, code: 'validation-error' });
    const violations = JSON.parse(res.headers.get('sl-violations') ?? '[]') as Violation[];
    expect(violations).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ location: ['request', 'body'], code: 'required', message: expect.stringContaining("'model'") }),
        expect.objectContaining({ location: ['request', 'body', 'name'], code: 'type' }),
      ]),
    );
  });
});
