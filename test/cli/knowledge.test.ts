import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isolatedApp } from '../server/run-helpers.js';
import { cli, json, keepSecret, tempHome } from './cli-helpers.js';

type KnowledgeBase = { id: string; name: string; chunking: { maxTokens: number; overlapTokens: number }; metadata: Record<string, unknown> };
type KnowledgeDocument = { id: string; name: string; status: string; chunkCount: number; metadata: Record<string, unknown>; error: { message: string } | null };
type QueryResult = { mode: string; data: { rank: number; citation: string; documentId: string; headingPath: string[]; snippet: { text: string } }[] };

let h: ReturnType<typeof tempHome>;
let env: Record<string, string>;
const file = (name: string, content: string | Uint8Array) => {
  const path = join(h.home, name);
  writeFileSync(path, content);
  return path;
};

beforeAll(async () => {
  const app = await isolatedApp('cli-knowledge');
  keepSecret(app.key);
  keepSecret(app.adminKey);
  h = tempHome();
  env = { ...h.env, SWITCHBOARD_BASE_URL: inject('serverUrl'), SWITCHBOARD_API_KEY: app.key };
});
afterAll(() => h?.cleanup());

const run = (args: string[]) => cli(args, { env, timeoutMs: 60_000 });

const REFUNDS = `# Refunds

A refund is paid back to the original card within five business days.

## Exceptions

Gift cards are never refunded; the balance stays on the card.
`;
const WARRANTY = '<html><body><h1>Warranty</h1><p>Two years on every kettle, parts and labour.</p></body></html>';

describe('switchboard kb', () => {
  it('creates a base, imports Markdown and HTML with --wait, lists the documents and queries them with citations', async () => {
    const created = json<KnowledgeBase>(
      await run([
        'kb',
        'create',
        'handbook',
        '--description',
        'Support',
        '--max-tokens',
        '64',
        '--overlap-tokens',
        '8',
        '--metadata',
        'team=support',
        '--json',
      ]),
    );
    expect(created).toMatchObject({ name: 'handbook', chunking: { maxTokens: 64, overlapTokens: 8 }, metadata: { team: 'support' } });
    expect((await run(['kb', 'list'])).stdout).toMatch(new RegExp(`${created.id}\\s+handbook\\s+64/8 tokens\\s+none`));
    expect((await run(['kb', 'get', 'handbook'])).stdout).toContain(created.id);

    const imported = await run(['kb', 'import', 'handbook', file('refunds.md', REFUNDS), file('warranty.html', WARRANTY), '--metadata', 'lang=en', '--wait']);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/refunds\.md\s+indexed/);
    expect(imported.stdout).toMatch(/warranty\.html\s+indexed/);

    const docs = json<{ data: KnowledgeDocument[] }>(await run(['kb', 'docs', created.id, '--status', 'indexed', '--metadata', 'lang=en', '--json']));
    expect(docs.data.map((d) => d.name).sort()).toEqual(['refunds.md', 'warranty.html']);
    expect((await run(['kb', 'docs', 'handbook', '--metadata', 'lang=fr'])).stdout).toContain('No documents.');
    const refunds = docs.data.find((d) => d.name === 'refunds.md')!;

    const shown = await run(['kb', 'query', 'handbook', 'gift', 'cards']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^1\\. \\d+\\.\\d{4}  ${refunds.id}:\\d+-\\d+  refunds\\.md  Refunds > Exceptions$`, 'm'));
    expect(shown.stdout).toMatch(/^ {3}.*Gift cards are never refunded/m);

    const result = json<QueryResult>(await run(['kb', 'query', 'handbook', 'kettle', '--top-k', '1', '--filter', '{"lang": "en"}', '--json']));
    expect(result.mode).toBe('fulltext');
    expect(result.data).toHaveLength(1);
    expect(result.data[0]!.headingPath).toEqual(['Warranty']);
    expect(result.data[0]!.citation).toMatch(new RegExp(`^${result.data[0]!.documentId}:\\d+-\\d+$`));
    expect(result.data[0]!.snippet.text.toLowerCase()).toContain('kettle');
    expect((await run(['kb', 'query', 'handbook', 'kettle', '--filter', '{"lang": "fr"}'])).stdout).toContain('No hits.');

    expect((await run(['kb', 'delete', 'handbook'])).stdout).toContain('Deleted knowledge base handbook.');
  });

  it('exits non-zero when a document fails to index, printing why', async () => {
    json(await run(['kb', 'create', 'broken', '--json']));
    const failed = await run(['kb', 'import', 'broken', file('broken.pdf', '%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage'), '--wait']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/broken\.pdf\s+failed/);
    expect(failed.stderr).toMatch(/broken\.pdf \(doc_\w+\) failed: \S/);
    expect(failed.stderr).toContain('1 of 1 document failed to index.');
    expect(failed.stderr).not.toMatch(/\n\s+at /);
  });

  it('says clearly what is wrong with a missing file, an unknown or ambiguous base, and bad options', async () => {
    const missing = await run(['kb', 'import', 'nowhere', join(h.home, 'absent.md')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`switchboard: Cannot read ${join(h.home, 'absent.md')}: ENOENT\n`);

    const unknown = await run(['kb', 'query', 'no-such-base', 'refunds']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('switchboard: The application has no knowledge base named "no-such-base": switchboard kb list shows them.\n');

    json(await run(['kb', 'create', 'twice', '--json']));
    json(await run(['kb', 'create', 'twice', '--json']));
    const ambiguous = await run(['kb', 'get', 'twice']);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/^switchboard: 2 knowledge bases are named "twice" \(kb_\w+, kb_\w+\): name one by its id\.\n$/);

    const filter = await run(['kb', 'query', 'twice', 'x', '--filter', '{lang']);
    expect(filter.code).toBe(2);
    expect(filter.stderr).toMatch(/^switchboard: --filter is not valid JSON/);

    const mode = await run(['kb', 'query', 'twice', 'x', '--mode', 'fuzzy']);
    expect(mode.code).toBe(2);
    expect(mode.stderr).toContain('must be one of: fulltext, vector, hybrid');
    for (const r of [missing, unknown, ambiguous, filter, mode]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
