import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FixtureError, expandFixtures, loadFixtures } from '../../openapi/plugins/fixtures.js';
import { serverSentEventsText } from '../../openapi/plugins/server-sent-events.js';

const fixtures = new Map<string, unknown>([
  ['run', { id: 'run_1', status: 'queued', output: null, usage: { inputTokens: 0, outputTokens: 0 } }],
  ['run-succeeded', { 'x-fixture': 'run', status: 'succeeded', output: { answer: 42 } }],
  ['loop-a', { 'x-fixture': 'loop-b' }],
  ['loop-b', { 'x-fixture': 'loop-a' }],
]);

describe('example fixtures', () => {
  it('replaces an x-fixture object by the fixture with the keys beside it, at any depth', () => {
    const value = { data: [{ 'x-fixture': 'run-succeeded', usage: { inputTokens: 5 }, output: null }] };
    expect(expandFixtures(value, fixtures)).toEqual({
      data: [{ id: 'run_1', status: 'succeeded', output: null, usage: { inputTokens: 5 } }],
    });
  });

  it('fails on an unknown fixture and on a cycle, naming them', () => {
    expect(() => expandFixtures({ data: { 'x-fixture': 'runn' } }, fixtures)).toThrow(/unknown fixture "runn"/);
    expect(() => expandFixtures({ 'x-fixture': 'loop-a' }, fixtures)).toThrow(FixtureError);
    expect(() => expandFixtures({ 'x-fixture': 'loop-a' }, fixtures)).toThrow(/loop-a -> loop-b -> loop-a/);
  });

  it("loads the spec's fixtures, each expanding without error", () => {
    const spec = loadFixtures(fileURLToPath(new URL('../../openapi/components/fixtures', import.meta.url)));
    expect(spec.get('run')).toMatchObject({ object: 'run' });
    for (const name of spec.keys()) expect(() => expandFixtures({ 'x-fixture': name }, spec)).not.toThrow();
  });

  it('writes server-sent event messages as event-stream text', () => {
    expect(serverSentEventsText([{ id: 1, event: 'status', data: { a: 1 } }, { data: 'x' }])).toBe('id: 1\nevent: status\ndata: {"a":1}\n\ndata: "x"\n\n');
  });
});
