import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import type { Command } from 'commander';
import type {
  KnowledgeBase,
  KnowledgeDocument,
  KnowledgeDocumentStatus,
  KnowledgeFilter,
  KnowledgeHit,
  KnowledgeQueryMode,
  Switchboard,
} from '@switchboard/sdk';
import type { Context } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { integer, metadataPair, oneOf, readJsonObject } from '../input.js';
import { deleteCommand, examples, listOptions, pageQuery, printList, printObject, type ListOptions } from '../lists.js';
import { shortTime, type Column } from '../output.js';

const STATUSES: KnowledgeDocumentStatus[] = ['queued', 'parsing', 'chunking', 'embedding', 'indexed', 'failed'];
const MODES: KnowledgeQueryMode[] = ['fulltext', 'vector', 'hybrid'];
const POLL_MS = 500;

const COLUMNS: Column<KnowledgeBase>[] = [
  { header: 'ID', value: (b) => b.id },
  { header: 'NAME', value: (b) => b.name },
  { header: 'CHUNKING', value: (b) => `${b.chunking.maxTokens}/${b.chunking.overlapTokens} tokens` },
  { header: 'EMBEDDINGS', value: (b) => b.embeddingModel ?? 'none (full text only)' },
  { header: 'CREATED', value: (b) => shortTime(b.createdAt) },
];
const DOCUMENT_COLUMNS: Column<KnowledgeDocument>[] = [
  { header: 'ID', value: (d) => d.id },
  { header: 'NAME', value: (d) => d.name },
  { header: 'STATUS', value: (d) => d.status, status: true },
  { header: 'CHUNKS', value: (d) => d.chunkCount },
  { header: 'VERSION', value: (d) => d.version },
  { header: 'ERROR', value: (d) => d.error?.message },
];

/** A knowledge base named by its id (`kb_...`) or its exact name, which need not be unique. */
async function kbIdOf(ctx: Context, ref: string): Promise<string> {
  if (ref.startsWith('kb_')) return ref;
  // The API filters bases by nothing: an application has few, so every page is read.
  const matches: string[] = [];
  for await (const base of ctx.client().knowledgeBases.list({ pageSize: 100 })) if (base.name === ref) matches.push(base.id);
  if (matches.length === 0) throw new UsageError(`The application has no knowledge base named "${ref}": switchboard kb list shows them.`);
  if (matches.length > 1) throw new UsageError(`${matches.length} knowledge bases are named "${ref}" (${matches.join(', ')}): name one by its id.`);
  return matches[0]!;
}

type ImportFile = { path: string; bytes: Buffer };

/** Every file read before anything is imported, so a mistyped path imports nothing. */
async function readFiles(paths: string[]): Promise<ImportFile[]> {
  return Promise.all(
    paths.map(async (path) => {
      try {
        return { path, bytes: await readFile(path) };
      } catch (err) {
        throw new UsageError(`Cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }),
  );
}

/** Markdown and text go as JSON (the server keeps them as written); anything else as an upload whose format the server finds. */
function importFile(client: Switchboard, kbId: string, file: ImportFile, o: { name?: string; metadata?: Record<string, string> }) {
  const name = o.name ?? basename(file.path);
  const extension = extname(file.path).toLowerCase();
  const metadata = o.metadata ? { metadata: o.metadata } : {};
  if (extension === '.md' || extension === '.markdown')
    return client.knowledgeDocuments.create(kbId, { name, markdown: file.bytes.toString('utf8'), ...metadata });
  if (extension === '.txt') return client.knowledgeDocuments.create(kbId, { name, text: file.bytes.toString('utf8'), ...metadata });
  return client.knowledgeDocuments.upload(kbId, { file: file.bytes, filename: basename(file.path), name, ...metadata });
}

/** Polls a document until its indexing ends. */
async function settled(client: Switchboard, doc: KnowledgeDocument): Promise<KnowledgeDocument> {
  while (doc.status !== 'indexed' && doc.status !== 'failed') {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    doc = await client.knowledgeDocuments.get(doc.knowledgeBaseId, doc.id);
  }
  return doc;
}

/** A hit for people: rank, score, citation and where it sits, then its snippet. */
function printHits(ctx: Context, hits: KnowledgeHit[]) {
  const out = ctx.out;
  hits.forEach((hit, i) => {
    const where = hit.headingPath.length ? hit.headingPath.join(' > ') : '-';
    if (i > 0) out.print();
    out.print(`${out.bold(`${hit.rank}.`)} ${hit.score.toFixed(4)}  ${hit.citation}  ${hit.documentName}  ${out.dim(where)}`);
    out.print(`   ${hit.snippet.text.replace(/\s+/g, ' ').trim()}`);
  });
}

type CreateFlags = {
  description?: string;
  maxTokens?: number;
  overlapTokens?: number;
  embeddingModel?: string;
  metadata?: Record<string, string>;
  idempotencyKey?: string;
};
type ImportFlags = { name?: string; metadata?: Record<string, string>; wait?: boolean };
type DocsFlags = ListOptions & { status?: KnowledgeDocumentStatus; metadata?: Record<string, string> };
type QueryFlags = { topK?: number; mode?: KnowledgeQueryMode; filter?: string };

export function registerKnowledge(program: Command, ctx: Context) {
  const kb = examples(
    program.command('kb').description('Knowledge bases: import documents (text, Markdown, HTML, PDF, .docx), then query them for hits that cite their source'),
    [
      'switchboard kb create handbook --description "Support handbook"',
      'switchboard kb import handbook docs/*.md manual.pdf --wait',
      'switchboard kb query handbook how do refunds work',
    ],
  );

  examples(listOptions(kb.command('list').description('List the knowledge bases, newest first')), [
    'switchboard kb list',
    'switchboard kb list --all --json',
  ]).action(async (o: ListOptions) => {
    await printList(ctx, ctx.client().knowledgeBases.list(pageQuery(o)), COLUMNS, o, 'knowledge bases');
  });

  examples(
    kb
      .command('create')
      .description('Create an empty knowledge base')
      .argument('<name>', 'its name, for people and for these commands')
      .option('--description <text>', 'what it holds, for people')
      .option('--max-tokens <n>', 'the most tokens in a chunk (default 512)', integer(1, 1_000_000))
      .option('--overlap-tokens <n>', 'the tokens a chunk repeats from the one before (default 64)', integer(0, 1_000_000))
      .option('--embedding-model <alias>', 'an embeddings alias of the application, for vector and hybrid queries (none: full text only)')
      .option('--metadata <key=value>', 'metadata (repeatable)', metadataPair)
      .option('--idempotency-key <key>', 'makes retrying this exact request safe (one is generated otherwise)'),
    ['switchboard kb create handbook', 'switchboard kb create policies --max-tokens 256 --overlap-tokens 32 --embedding-model embed --metadata team=support'],
  ).action(async (name: string, o: CreateFlags) => {
    const chunking = {
      ...(o.maxTokens !== undefined ? { maxTokens: o.maxTokens } : {}),
      ...(o.overlapTokens !== undefined ? { overlapTokens: o.overlapTokens } : {}),
    };
    const base = await ctx.client().knowledgeBases.create(
      {
        name,
        ...(o.description !== undefined ? { description: o.description } : {}),
        ...(Object.keys(chunking).length ? { chunking } : {}),
        ...(o.embeddingModel !== undefined ? { embeddingModel: o.embeddingModel } : {}),
        ...(o.metadata ? { metadata: o.metadata } : {}),
      },
      { idempotencyKey: o.idempotencyKey },
    );
    printObject(ctx, base);
  });

  examples(kb.command('get').description('Show a knowledge base').argument('<kb>', 'its name or id'), [
    'switchboard kb get handbook',
    'switchboard kb get kb_01jd4... --json',
  ]).action(async (ref: string) => printObject(ctx, await ctx.client().knowledgeBases.get(await kbIdOf(ctx, ref))));

  deleteCommand(kb, ctx, {
    noun: 'knowledge base',
    argument: 'kb',
    example: 'handbook',
    description: 'Delete a knowledge base with its documents; queries no longer find them',
    remove: async (ref, options) => ctx.client().knowledgeBases.delete(await kbIdOf(ctx, ref), options),
  });

  examples(
    kb
      .command('import')
      .description(
        'Import files into a knowledge base: .md and .markdown as Markdown, .txt as text, any other as an upload (HTML, PDF, .docx; the server finds the format from the content)',
      )
      .argument('<kb>', 'its name or id')
      .argument('<file...>', 'the files')
      .option('--name <name>', 'the document name, with a single file (default: the file name)')
      .option('--metadata <key=value>', 'metadata of every document imported (repeatable)', metadataPair)
      .option('--wait', 'wait until every document is indexed or failed (exit code 1 when one failed)'),
    ['switchboard kb import handbook refunds.md', 'switchboard kb import handbook manual.pdf faq.html --metadata lang=en --wait'],
  ).action(async (ref: string, paths: string[], o: ImportFlags) => {
    if (o.name !== undefined && paths.length > 1) throw new UsageError('--name names a single document: import one file with it, or leave it out.');
    const files = await readFiles(paths);
    const client = ctx.client();
    const kbId = await kbIdOf(ctx, ref);
    let docs: KnowledgeDocument[] = [];
    for (const file of files) docs.push(await importFile(client, kbId, file, o));
    if (o.wait) {
      if (!ctx.out.json) ctx.out.note(ctx.out.dim(`Waiting for ${docs.length === 1 ? 'the document' : `${docs.length} documents`} to be indexed...`));
      docs = await Promise.all(docs.map((doc) => settled(client, doc)));
    }
    if (ctx.out.json) ctx.out.data(docs);
    else ctx.out.table(docs, DOCUMENT_COLUMNS);
    const failed = docs.filter((d) => d.status === 'failed');
    for (const doc of failed) ctx.out.note(`switchboard: ${doc.name} (${doc.id}) failed: ${doc.error?.message ?? 'no reason given'}`);
    if (failed.length) throw new CliError(`${failed.length} of ${docs.length} document${docs.length === 1 ? '' : 's'} failed to index.`);
  });

  examples(
    listOptions(
      kb
        .command('docs')
        .description('List the documents of a knowledge base, newest first, with where their indexing stands')
        .argument('<kb>', 'its name or id')
        .option('--status <status>', `only documents in this status: ${STATUSES.join(', ')}`, oneOf(...STATUSES))
        .option('--metadata <key=value>', 'only documents with this metadata (repeatable; all must match)', metadataPair),
    ),
    ['switchboard kb docs handbook', 'switchboard kb docs handbook --status failed', 'switchboard kb docs handbook --metadata lang=en --json'],
  ).action(async (ref: string, o: DocsFlags) => {
    const query = {
      ...pageQuery(o),
      ...(o.status ? { status: o.status } : {}),
      ...(o.metadata ? { metadata: Object.entries(o.metadata).map(([k, v]) => `${k}:${v}`) } : {}),
    };
    await printList(ctx, ctx.client().knowledgeDocuments.list(await kbIdOf(ctx, ref), query), DOCUMENT_COLUMNS, o, 'documents');
  });

  examples(
    kb
      .command('query')
      .description('Find the passages of a knowledge base that best answer a query, each with its citation (doc_...:start-end) and a snippet')
      .argument('<kb>', 'its name or id')
      .argument('<text...>', 'the query')
      .option('--top-k <n>', 'the most hits, 1 to 50 (default 5)', integer(1, 50))
      .option('--mode <mode>', `how to match: ${MODES.join(', ')} (default fulltext; vector and hybrid need an embedding model)`, oneOf(...MODES))
      .option('--filter <json>', 'metadata filter, e.g. \'{"lang": "en", "year": {"gte": 2024}}\' (or @file)'),
    [
      'switchboard kb query handbook refund policy',
      'switchboard kb query handbook "warranty kettle" --top-k 3 --filter \'{"lang": "en"}\'',
      'switchboard kb query handbook refunds --json | jq ".data[].citation"',
    ],
  ).action(async (ref: string, words: string[], o: QueryFlags) => {
    const filter = o.filter !== undefined ? ((await readJsonObject(o.filter, '--filter')) as KnowledgeFilter) : undefined;
    const result = await ctx.client().knowledgeBases.query(await kbIdOf(ctx, ref), {
      query: words.join(' '),
      ...(o.topK !== undefined ? { topK: o.topK } : {}),
      ...(o.mode ? { mode: o.mode } : {}),
      ...(filter ? { filter } : {}),
    });
    const out = ctx.out;
    if (out.json) {
      out.data(result);
      return;
    }
    if (!result.data.length) out.print('No hits.');
    else printHits(ctx, result.data);
    out.note(out.dim(`${result.data.length} hit${result.data.length === 1 ? '' : 's'} (${result.mode}) in ${result.tookMs} ms.`));
  });
}
