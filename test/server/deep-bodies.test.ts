import { beforeAll, describe, expect, it } from 'vitest';
import { problemOf, rawClient, send } from '../support/client.js';
import { createAgent, freshAdmin, type Agent } from './helpers.js';

/** `{"a":{"a":...1...}}`, `levels` objects deep, written as text (JSON.stringify cannot write the deep ones). */
const nestedObjects = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
const nestedArrays = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);

let key: string;
let agent: Agent;

beforeAll(async () => {
  key = await freshAdmin();
  agent = await createAgent(rawClient({ key }), { model: 'echo' });
});

const createRun = (inputText: string) =>
  send('/api/v1/runs', {
    key,
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: `{"agentId":"${agent.id}","input":{"doc":${inputText}}}`,
  });

// Found by the fuzz suite: JSON.parse accepts nesting that JSON.stringify then overflows the stack on (a 500).
describe('deeply nested request bodies', () => {
  it('refuses a body nested deeper than 64 levels with a 422 naming where, not a 500', async () => {
    for (const text of [nestedObjects(20_000), nestedArrays(20_000), nestedObjects(63)]) {
      const res = await createRun(text);
      expect(res.status).toBe(422);
      const problem = await problemOf(res);
      expect(problem.code).toBe('validation-error');
      expect(problem.errors).toHaveLength(1);
      expect(problem.errors![0]!.pointer).toMatch(/^\/input\/doc(\/(a|0)){62}$/);
      expect(problem.errors![0]!.detail).toBe('Values may be nested at most 64 levels deep.');
    }
  });

  it('accepts what the schema allows (a run input 8 levels deep) and gives it back as sent; deeper is a 422 from the schema', async () => {
    const res = await createRun(nestedObjects(7));
    expect(res.status).toBe(201);
    const run = (await res.json()) as { id: string; input: unknown };
    expect(run.input).toEqual({ doc: JSON.parse(nestedObjects(7)) });
    for (const levels of [8, 62]) {
      const refused = await createRun(nestedObjects(levels));
      expect(refused.status).toBe(422);
      expect((await problemOf(refused)).code).toBe('validation-error');
    }
  });
});
