import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Switchboard, SwitchboardError } from '@switchboard/sdk';
import type { InProcessServer } from '../support/in-process-server.js';
import { until } from '../sdk/helpers.js';
import type { TestProvider } from '../support/test-provider.js';
import { lastChatRequest, resultOf, settledRun, startLlmRuntime, type LlmRuntime } from './llm-helpers.js';

/**
 * The `llm` runtime's built-in `search_knowledge`, end to end: an agent against the test provider
 * (behind the gateway), run by the built-in runner, searches the knowledge base bound to its tool
 * with the run token and gets the hits with their citations; a base of the application it is not
 * bound to is never searched, and binding a base that is not the application's is refused.
 */
let llm: LlmRuntime;
let running: InProcessServer;
let provider: TestProvider;
let sb: Switchboard;
let tag: string;

beforeAll(async () => {
  llm = await startLlmRuntime('knowledge-worker', { KNOWLEDGE_INTERVAL_MS: '100' });
  ({ running, provider, sb, tag } = llm);
});
afterAll(async () => llm?.stop());

/** A base with one Markdown document, once the document is indexed. */
async function baseWith(name: string, docName: string, markdown: string) {
  const base = await sb.knowledgeBases.create({ name });
  const doc = await sb.knowledgeDocuments.create(base.id, { name: docName, markdown });
  await until(async () => (await sb.knowledgeDocuments.get(base.id, doc.id)).status === 'indexed', `document ${doc.id} to be indexed`, 300, 50);
  return { base, doc };
}

const REFUNDS = `# Refunds

## Gift cards

Gift cards are never refunded; the balance stays on the card.
`;

describe('search_knowledge in the llm runtime', () => {
  it('searches only the bases bound to the tool, with the run token, and tells the model each hit with its citation and text', async () => {
    const { base, doc } = await baseWith('Support handbook', 'Refund policy', REFUNDS);
    // A base of the same application the agent is not bound to: its words are never found.
    await baseWith('Launch plans', 'Secret plan', '# Plan\n\nThe gift cards launch codeword is marmalade.\n');
    const agent = await sb.agents.create({
      name: 'librarian',
      model: 'assistant',
      instructions: 'Answer from the handbook and cite it.',
      labels: [tag],
      tools: [{ kind: 'builtin', name: 'search_knowledge', knowledgeBaseIds: [base.id] }],
    });
    expect(agent.tools).toEqual([{ kind: 'builtin', name: 'search_knowledge', knowledgeBaseIds: [base.id] }]);

    provider.reply(
      {
        toolCalls: [
          { id: 'call_search', name: 'search_knowledge', arguments: { query: 'gift cards refunded', topK: 3 } },
          { id: 'call_other', name: 'search_knowledge', arguments: { query: 'marmalade codeword' } },
          { id: 'call_bad', name: 'search_knowledge', arguments: { query: 'gift cards', topK: 50 } },
        ],
      },
      { text: 'Gift cards are never refunded.' },
    );
    const first = provider.requests.length;
    const run = await sb.runs.create({ agentId: agent.id, input: { prompt: 'Can I refund a gift card?' } });
    expect(await settledRun(sb, run.id)).toMatchObject({ status: 'succeeded', output: { text: 'Gift cards are never refunded.' } });

    // The model was offered the tool with the runtime's description and arguments, not the bases.
    const offered = (provider.requests[first]!.body as { tools: { function: { name: string; description: string; parameters: any } }[] }).tools;
    expect(offered.map((t) => t.function.name)).toEqual(['search_knowledge']);
    expect(offered[0]!.function.description).toMatch(/\[doc_/);
    expect(offered[0]!.function.parameters).toMatchObject({ required: ['query'], properties: { topK: { maximum: 10 } } });
    expect(JSON.stringify(offered)).not.toContain(base.id);

    const told = lastChatRequest(provider);
    const found = resultOf(told, 'call_search')!;
    // Every hit is of the bound base's document, the gift-card passage best.
    for (const hit of found.hits) expect(hit.citation).toMatch(new RegExp(`^${doc.id}:`));
    expect(found.hits[0]).toEqual({
      citation: expect.stringMatching(new RegExp(`^${doc.id}:\\d+-\\d+$`)),
      document: 'Refund policy',
      headingPath: ['Refunds', 'Gift cards'],
      score: 1,
      text: expect.stringContaining('Gift cards are never refunded'),
    });
    expect(found.note).toEqual(expect.any(String));
    // The citation's range is the text's place in the document.
    const [, start, end] = /:(\d+)-(\d+)$/.exec(found.hits[0].citation as string)!;
    const content = await (
      await fetch(`${running.baseUrl}/api/v1/knowledge-bases/${base.id}/documents/${doc.id}/content`, {
        headers: { Authorization: `Bearer ${running.adminKey}` },
      })
    ).text();
    expect(content.slice(Number(start), Number(end))).toBe(found.hits[0].text);
    // The unbound base's words are not found; its document never shows.
    expect(resultOf(told, 'call_other')).toMatchObject({ hits: [] });
    expect(JSON.stringify(told.body)).not.toContain('Secret plan');
    // Arguments out of range are told to the model.
    expect(resultOf(told, 'call_bad')!.error).toMatch(/topK must be an integer from 1 to 10/);

    const events = (await sb.runs.events(run.id, { limit: 100 })).data;
    const results = events.filter((e) => e.type.startsWith('tool.result')).map((e) => e.data as { id: string; ok: boolean });
    expect(results.map((r) => [r.id, r.ok])).toEqual([
      ['call_search', true],
      ['call_other', true],
      ['call_bad', false],
    ]);
  });

  it('a base deleted since the agent was made is a refusal the model is told, and the run succeeds', async () => {
    const { base } = await baseWith('Short-lived', 'Notes', '# Notes\n\nParcels ship on Mondays.\n');
    const agent = await sb.agents.create({
      name: 'late librarian',
      model: 'assistant',
      labels: [tag],
      tools: [{ kind: 'builtin', name: 'search_knowledge', knowledgeBaseIds: [base.id] }],
    });
    await sb.knowledgeBases.delete(base.id);
    provider.reply({ toolCalls: [{ id: 'call_gone', name: 'search_knowledge', arguments: { query: 'parcels' } }] }, { text: 'I cannot find it.' });
    const run = await sb.runs.create({ agentId: agent.id, input: { prompt: 'When do parcels ship?' } });
    expect((await settledRun(sb, run.id)).status).toBe('succeeded');
    expect(resultOf(lastChatRequest(provider), 'call_gone')).toMatchObject({ code: 'not-found', error: expect.stringContaining(base.id) });
  });

  it('agent validation: search_knowledge needs knowledge bases of the application; knowledgeBaseIds on another tool is 422', async () => {
    const { base } = await baseWith('Validated', 'Doc', '# Doc\n\nText.\n');
    const refused = async (tool: Record<string, unknown>) => {
      const err = (await sb.agents.create({ name: 'refused', model: 'assistant', tools: [tool as never] }).catch((e: unknown) => e)) as SwitchboardError;
      expect(err).toBeInstanceOf(SwitchboardError);
      expect(err.status).toBe(422);
      expect(err.code).toBe('validation-error');
      return err.errors.map((e) => [e.pointer, e.detail]);
    };
    const absent = 'kb_01jd4x7p2kf8q6v3b9m5t0s1ab';
    expect(await refused({ kind: 'builtin', name: 'search_knowledge', knowledgeBaseIds: [base.id, absent] })).toEqual([
      ['/tools/0/knowledgeBaseIds/1', expect.stringContaining(absent)],
    ]);
    expect(await refused({ kind: 'builtin', name: 'search_knowledge' })).toEqual([
      ['/tools/0/knowledgeBaseIds', expect.stringMatching(/needs knowledgeBaseIds/)],
    ]);
    expect(await refused({ kind: 'builtin', name: 'list_tasks', knowledgeBaseIds: [base.id] })).toEqual([['/tools/0/knowledgeBaseIds', expect.any(String)]]);
    expect(await refused({ name: 'lookup', url: 'https://example.com/lookup', knowledgeBaseIds: [base.id] })).toEqual([
      ['/tools/0/knowledgeBaseIds', expect.stringMatching(/search_knowledge/)],
    ]);

    // Another application's base is refused as an unknown one.
    const app = await sb.applications.create({ name: 'Elsewhere' });
    const elsewhere = await new Switchboard({ baseUrl: running.baseUrl, apiKey: running.adminKey, appId: app.id }).knowledgeBases.create({ name: 'Not ours' });
    expect(await refused({ kind: 'builtin', name: 'search_knowledge', knowledgeBaseIds: [elsewhere.id] })).toEqual([
      ['/tools/0/knowledgeBaseIds/0', expect.stringContaining(elsewhere.id)],
    ]);

    // An update binding an unknown base is refused too.
    const agent = await sb.agents.create({
      name: 'bound',
      model: 'assistant',
      tools: [{ kind: 'builtin', name: 'search_knowledge', knowledgeBaseIds: [base.id] }],
    });
    const err = (await sb.agents
      .update(agent.id, { tools: [{ kind: 'builtin', name: 'search_knowledge', knowledgeBaseIds: [base.id, elsewhere.id] }] })
      .catch((e: unknown) => e)) as SwitchboardError;
    expect(err).toMatchObject({ status: 422, code: 'validation-error' });
  });
});
