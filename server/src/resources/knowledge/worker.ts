import type { Logger } from 'pino';
import type { Config } from '../../config/config.js';
import type { Db } from '../../db/database.js';
import { queryRows } from '../../db/statements.js';
import { guardedAgents } from '../../security/addresses.js';
import type { Sealer } from '../../security/sealer.js';
import { startClaimPool } from '../../util/claim-pool.js';
import { recordEvent } from '../webhooks/outbox.js';
import { chunkMarkdown } from './chunker.js';
import { swapChunks } from './chunks.js';
import { toDocument, type DocumentError } from './documents.js';
import { embedTexts, EmbeddingError } from './embed.js';
import * as indexing from './indexing.js';
import { DocumentParseError, parseDocument } from './parse.js';
import { onDocumentQueued } from './queue.js';

export type Indexer = {
  /** Indexes every queued document now, and waits until each is indexed or failed. */
  drain: () => Promise<void>;
  stop(): Promise<void>;
};

// eslint-disable-next-line no-control-regex -- the class names the control characters no answer may carry
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;

class Failed extends Error {
  constructor(readonly error: DocumentError) {
    super(error.message);
  }
}

/**
 * The indexing worker: claims queued documents (each replica its own), turns the pending source
 * into text (parsing a file), cuts it into chunks by the base's chunking, embeds them when the base
 * has an embedding model, and swaps the new chunks in, with the document's new version and its
 * `knowledge_document.indexed` event, in one transaction; or marks it `failed` with
 * `knowledge_document.failed`, the previous version still serving. Whatever it does is written only
 * while it still holds the document: one replaced or deleted meanwhile is let go. A crashed worker's
 * claim runs out and another takes the document over.
 */
export function startIndexer(db: Db, sealer: Sealer, config: Pick<Config, 'knowledge' | 'modelProviders'>, logger: Logger): Indexer {
  const agents = guardedAgents(config.modelProviders.policy);
  const { claimMs } = config.knowledge;

  async function text(work: indexing.PendingWork): Promise<{ content: string; contentType: 'text' | 'markdown' }> {
    if (!work.source || !work.sourceType) {
      if (work.content === null || !work.contentType) throw new Failed({ code: 'empty_document', message: 'The document has no content to index.' });
      return { content: work.content, contentType: work.contentType };
    }
    if (work.sourceType !== 'file') return { content: work.source.toString('utf8'), contentType: work.sourceType };
    try {
      const parsed = await parseDocument({ bytes: work.source, mediaType: work.mediaType ?? undefined, filename: work.row.filename ?? undefined });
      // What a file held may carry control characters; the served text (which offsets point into) never does.
      return { content: parsed.markdown.replace(CONTROL, ' '), contentType: parsed.format === 'text' ? 'text' : 'markdown' };
    } catch (err) {
      if (err instanceof DocumentParseError) throw new Failed({ code: 'unparseable', message: err.message });
      throw err;
    }
  }

  async function index(job: indexing.Claimed): Promise<void> {
    const work = await indexing.pendingWork(db, job);
    if (!work) return;
    const [base] = await queryRows<{ max_tokens: number; overlap_tokens: number; embedding_model: string | null }>(
      db('knowledge_bases').where({ id: work.row.knowledge_base_id }).select('max_tokens', 'overlap_tokens', 'embedding_model'),
    );
    if (!base) return;
    try {
      const source = await text(work);
      if (!(await indexing.advance(db, job, 'chunking', claimMs))) return;
      const chunks = chunkMarkdown(source.content, { maxTokens: base.max_tokens, overlapTokens: base.overlap_tokens });
      if (chunks.length === 0) throw new Failed({ code: 'empty_document', message: 'The document has no text to index.' });
      let embeddings: { model: string; vectors: number[][] } | null = null;
      if (base.embedding_model) {
        if (!(await indexing.advance(db, job, 'embedding', claimMs))) return;
        const alias = base.embedding_model;
        const { vectors } = await embedTexts(
          { db, sealer, agents, logger },
          { applicationId: work.row.application_id, alias, texts: chunks.map((c) => c.text), requestId: `${job.id}:${job.token}` },
        ).catch((err: unknown) => {
          if (err instanceof EmbeddingError) throw new Failed({ code: 'embedding_failed', message: err.message });
          throw err;
        });
        embeddings = { model: alias, vectors };
      }
      await db.transaction(async (trx) => {
        const held = await indexing.heldDocument(trx, job);
        if (!held) return;
        const version = held.version + 1;
        await swapChunks(trx, { id: held.id, applicationId: held.application_id, knowledgeBaseId: held.knowledge_base_id, version }, chunks, embeddings);
        const tokenCount = chunks.reduce((n, c) => n + c.tokenCount, 0);
        await indexing.markIndexed(trx, held.id, { version, ...source, chunkCount: chunks.length, tokenCount });
        await recordEvent(trx, held.application_id, 'knowledge_document.indexed', toDocument(await indexing.documentRow(trx, held.id)));
      });
    } catch (err) {
      const error: DocumentError =
        err instanceof Failed ? err.error : { code: 'internal_error', message: 'The document could not be indexed because of an error on the server.' };
      if (!(err instanceof Failed)) logger.error({ err, documentId: job.id }, 'indexing a document failed');
      await db.transaction(async (trx) => {
        const held = await indexing.heldDocument(trx, job);
        if (!held) return;
        await indexing.markFailed(trx, held.id, error);
        await recordEvent(trx, held.application_id, 'knowledge_document.failed', toDocument(await indexing.documentRow(trx, held.id)));
      });
    }
  }

  const pool = startClaimPool({
    slots: config.knowledge.concurrency,
    claim: (free) => indexing.claimDocuments(db, free, claimMs),
    work: index,
    intervalMs: config.knowledge.intervalMs,
    logger,
    what: 'document indexing',
    logFields: (job) => ({ documentId: job.id }),
  });
  const unsubscribe = onDocumentQueued(() => void pool.fill());

  return {
    drain: () => pool.drain(),
    async stop() {
      unsubscribe();
      await pool.stop();
    },
  };
}
