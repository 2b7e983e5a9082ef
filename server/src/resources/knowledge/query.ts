import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { queryRows } from '../../db/statements.js';
import { ProblemError } from '../../problems/problems.js';
import { fromJsonColumn } from '../../util/json-column.js';
import type { DocumentMetadata } from './documents.js';
import { embedTexts, EmbeddingError, type EmbedDeps } from './embed.js';
import type { KnowledgeFilter } from './filter.js';
import { reciprocalRankFusion } from './ranking.js';
import { fulltextCandidates, highlightRanges, queryTerms, vectorCandidates, type Candidate, type Scope } from './search.js';

type Mode = components['schemas']['KnowledgeQueryMode'];
type Hit = components['schemas']['KnowledgeHit'];
export type QueryResult = components['schemas']['KnowledgeQueryResult'];

export type QueryDeps = EmbedDeps;
export type QueryInput = {
  applicationId: string;
  knowledgeBaseIds: string[];
  query: string;
  topK?: number;
  mode?: Mode;
  minScore?: number;
  filter?: KnowledgeFilter;
  requestId: string;
};

/** Each list a hybrid query fuses is this long: deep enough for a chunk ranked low by one list and high by the other to surface. */
const FUSION_DEPTH = 50;
const RRF_K = 60;
/** An excerpt's length around its first highlight, and how much of it comes before. */
const SNIPPET_CHARS = 240;
const SNIPPET_LEAD = 60;

type Ranked = { candidate: Candidate; score: number; fulltext: Hit['scoreDetail']['fulltext']; vector: Hit['scoreDetail']['vector']; fused: number | null };

async function basesOf(db: Executor, applicationId: string, ids: string[]): Promise<Map<string, string | null>> {
  const rows = await queryRows<{ id: string; embedding_model: string | null }>(
    db('knowledge_bases').where({ application_id: applicationId }).whereIn('id', ids).select('id', 'embedding_model'),
  );
  const bases = new Map(rows.map((r) => [r.id, r.embedding_model]));
  const missing = ids.find((id) => !bases.has(id));
  if (missing) throw new ProblemError('not-found', `No knowledge base with id ${missing}.`);
  return bases;
}

function modeOf(requested: Mode | undefined, bases: Map<string, string | null>): Mode {
  const unembedded = [...bases].filter(([, model]) => !model).map(([id]) => id);
  if (requested === 'vector' && unembedded.length)
    throw new ProblemError('embedding-not-configured', `The knowledge base ${unembedded[0]!} has no embeddingModel: a vector query needs one.`);
  if (unembedded.length) return 'fulltext';
  return requested ?? 'hybrid';
}

/** The query embedded once by each model the bases use, so each chunk is compared with a vector of its own space. */
async function queryVectors(deps: QueryDeps, input: QueryInput, bases: Map<string, string | null>): Promise<Map<string, Float32Array>> {
  const vectors = new Map<string, Float32Array>();
  for (const model of new Set([...bases.values()].filter((m): m is string => m !== null))) {
    const embedded = await embedTexts(deps, {
      applicationId: input.applicationId,
      alias: model,
      texts: [input.query],
      requestId: `${input.requestId}:${vectors.size}`,
    }).catch((err: unknown) => {
      if (err instanceof EmbeddingError)
        throw new ProblemError(err.code === 'embedding_not_configured' ? 'embedding-not-configured' : 'upstream-error', err.message);
      throw err;
    });
    vectors.set(model, Float32Array.from(embedded.vectors[0]!));
  }
  return vectors;
}

function rank(mode: Mode, fulltext: Candidate[], vector: Candidate[]): Ranked[] {
  const best = fulltext[0]?.score ?? 0;
  const textDetail = new Map(
    fulltext.map((c, i) => [c.id, { rank: i + 1, raw: c.score, normalized: best > 0 ? Math.min(1, Math.max(0, c.score / best)) : 0 }]),
  );
  const vectorDetail = new Map(vector.map((c, i) => [c.id, { rank: i + 1, similarity: Math.min(1, Math.max(-1, c.score)) }]));
  if (mode === 'fulltext')
    return fulltext.map((c) => ({ candidate: c, score: textDetail.get(c.id)!.normalized, fulltext: textDetail.get(c.id)!, vector: null, fused: null }));
  if (mode === 'vector')
    return vector.map((c) => ({ candidate: c, score: Math.max(0, c.score), fulltext: null, vector: vectorDetail.get(c.id)!, fused: null }));
  const fused = reciprocalRankFusion([fulltext.map((c) => c.id), vector.map((c) => c.id)], RRF_K);
  const byId = new Map([...vector, ...fulltext].map((c) => [c.id, c]));
  // The best fused score possible: first in both lists.
  const ceiling = 2 / (RRF_K + 1);
  return [...fused]
    .map(([id, value]) => ({
      candidate: byId.get(id)!,
      score: Math.min(1, value / ceiling),
      fulltext: textDetail.get(id) ?? null,
      vector: vectorDetail.get(id) ?? null,
      fused: value,
    }))
    .sort((a, b) => b.score - a.score || a.candidate.seq - b.candidate.seq);
}

type HitRow = {
  seq: number;
  id: string;
  knowledge_base_id: string;
  document_id: string;
  document_version: number;
  text: string;
  heading_path: string;
  char_start: number;
  char_end: number;
  document_name: string;
  metadata: string;
};

/** An excerpt of the chunk from a little before its first highlight, cut at spaces, as document offsets. */
function snippetOf(row: HitRow, highlights: { start: number; end: number }[]): Hit['snippet'] {
  const text = row.text;
  let start = Math.max(0, (highlights[0]?.start ?? 0) - SNIPPET_LEAD);
  if (start > 0) {
    const space = text.slice(start).search(/\s/);
    if (space >= 0 && space < SNIPPET_LEAD) start += space + 1;
  }
  let end = Math.min(text.length, start + SNIPPET_CHARS);
  if (end < text.length) {
    const space = text.slice(start, end).search(/\s\S*$/);
    if (space > 0) end = start + space;
  }
  return { text: text.slice(start, end), charStart: row.char_start + start, charEnd: row.char_start + end };
}

export async function runQuery(deps: QueryDeps, input: QueryInput): Promise<QueryResult> {
  const started = performance.now();
  const { db } = deps;
  const bases = await basesOf(db, input.applicationId, input.knowledgeBaseIds);
  const mode = modeOf(input.mode, bases);
  const topK = input.topK ?? 5;
  const scope: Scope = { knowledgeBaseIds: input.knowledgeBaseIds, filter: input.filter };
  const terms = queryTerms(input.query);
  const depth = mode === 'hybrid' ? Math.max(FUSION_DEPTH, topK) : topK;
  const fulltext = mode === 'vector' ? [] : await fulltextCandidates(db, terms, scope, depth);
  const vector = mode === 'fulltext' ? [] : await vectorCandidates(db, await queryVectors(deps, input, bases), scope, depth);
  const ranked = rank(mode, fulltext, vector)
    .filter((r) => input.minScore === undefined || r.score >= input.minScore)
    .slice(0, topK);

  const seqs = ranked.map((r) => r.candidate.seq);
  const rows = seqs.length
    ? await queryRows<HitRow>(
        db('knowledge_chunks as c')
          .join('knowledge_documents as d', 'd.id', 'c.document_id')
          .whereIn('c.seq', seqs)
          .select(
            'c.seq',
            'c.id',
            'c.knowledge_base_id',
            'c.document_id',
            'c.document_version',
            'c.text',
            'c.heading_path',
            'c.char_start',
            'c.char_end',
            'd.name as document_name',
            'd.metadata',
          ),
      )
    : [];
  const bySeq = new Map(rows.map((r) => [r.seq, r]));
  // Only a chunk its words found has words to show; one found by its embedding alone has none.
  const highlights = await highlightRanges(
    db,
    terms,
    ranked.filter((r) => r.fulltext).map((r) => r.candidate.seq),
  );
  const data: Hit[] = [];
  for (const r of ranked) {
    const row = bySeq.get(r.candidate.seq);
    // Deleted or replaced between the ranking and this read: the hit is gone.
    if (!row) continue;
    const marks = highlights.get(r.candidate.seq) ?? [];
    data.push({
      rank: data.length + 1,
      score: r.score,
      scoreDetail: { fulltext: r.fulltext, vector: r.vector, fused: r.fused },
      chunkId: row.id,
      documentId: row.document_id,
      documentName: row.document_name,
      documentVersion: row.document_version,
      knowledgeBaseId: row.knowledge_base_id,
      text: row.text,
      headingPath: fromJsonColumn<string[]>(row.heading_path, []),
      charStart: row.char_start,
      charEnd: row.char_end,
      citation: `${row.document_id}:${row.char_start}-${row.char_end}`,
      highlights: marks.map((m) => ({ start: row.char_start + m.start, end: row.char_start + m.end })),
      snippet: snippetOf(row, marks),
      metadata: fromJsonColumn<DocumentMetadata>(row.metadata, {}),
    });
  }
  return { object: 'knowledge_query_result', mode, tookMs: Math.round(performance.now() - started), data };
}
