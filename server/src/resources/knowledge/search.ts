import { isPostgres, type Executor } from '../../db/database.js';
import { queryRows } from '../../db/statements.js';
import { whereMetadata, type KnowledgeFilter } from './filter.js';
import { baseVectors } from './vector-cache.js';

/** A query's words beyond these add little and cost a scan each. */
const MAX_TERMS = 32;

/**
 * English words too common to rank by: PostgreSQL's `english` configuration drops them from both
 * text and query; dropping them from SQLite's query too keeps the two ranking alike (and keeps an
 * OR over "the" from matching every chunk).
 */
const STOPWORDS = new Set(
  (
    'a about above after again against all am an and any are as at be because been before being below between both but by can did do does ' +
    'doing down during each few for from further had has have having he her here hers herself him himself his how i if in into is it its ' +
    'itself just me more most my myself no nor not now of off on once only or other our ours ourselves out over own same she should so ' +
    'some such than that the their theirs them themselves then there these they this those through to too under until up very was we ' +
    'were what when where which while who whom why will with you your yours yourself yourselves'
  ).split(' '),
);

/** The query's words, split where the indexes split text; only letters and digits, so none carries either database's query syntax. */
export function queryTerms(query: string): string[] {
  const words = [...new Set(query.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [])];
  return words.filter((w) => !STOPWORDS.has(w)).slice(0, MAX_TERMS);
}

export type Scope = { knowledgeBaseIds: string[]; filter: KnowledgeFilter | undefined };
export type Candidate = { seq: number; id: string; score: number };

/** BM25's usual constants: how fast a word's repeats stop counting, and how much a long chunk is discounted. */
const K1 = 1.2;
const B = 0.75;
/** A word in more than this share of the chunks searched does not by itself make a chunk a candidate on PostgreSQL. */
const COMMON_SHARE = 0.1;

/**
 * The chunks with any of the terms, best first, by BM25 on both databases: SQLite's FTS5 `bm25()`
 * (headings weigh twice the text; negated so higher is better); on PostgreSQL computed from the
 * tsvector (whose own `ts_rank` knows nothing of how rare a word is, so a common word would
 * outweigh a rare one): each stemmed word's occurrences in the chunk (those in a heading count
 * twice) and its inverse document frequency among the chunks searched, counted through the GIN index.
 */
export async function fulltextCandidates(db: Executor, terms: string[], scope: Scope, limit: number): Promise<Candidate[]> {
  if (!terms.length) return [];
  let query;
  if (isPostgres(db)) {
    // Each count is its own subquery, so the GIN index finds a word's chunks instead of every chunk being tested.
    const inScope = (column: string) => db.raw(`${column} in (${scope.knowledgeBaseIds.map(() => '?').join(', ')})`, scope.knowledgeBaseIds);
    const stats = (await db
      .select(
        db.raw('(select count(*) from knowledge_chunks where ?) as n', [inScope('knowledge_base_id')]),
        db.raw('(select coalesce(avg(token_count), 1) from knowledge_chunks where ?) as average', [inScope('knowledge_base_id')]),
        ...terms.flatMap((t, i) => [
          db.raw(`(select count(*) from knowledge_chunks where search @@ to_tsquery('english', ?) and ?) as df${i}`, [t, inScope('knowledge_base_id')]),
          db.raw(`array_to_string(tsvector_to_array(to_tsvector('english', ?)), ' ') as lexeme${i}`, [t]),
        ]),
      )
      .first()) as Record<string, number | string>;
    const n = Number(stats.n);
    const words = terms
      .map((term, i) => ({ term, lexeme: String(stats[`lexeme${i}`]), df: Number(stats[`df${i}`]) }))
      .filter((w) => w.lexeme && !w.lexeme.includes(' '));
    if (!words.length) return [];
    const idf = words.map((w) => Math.log(1 + (n - w.df + 0.5) / (w.df + 0.5)));
    // Scoring reads each matching chunk's tsvector: chunks are matched by the query's rarer words
    // when it has any, so a word in most chunks does not make every chunk a candidate (it still
    // counts in the score of those matched).
    const rare = words.filter((w) => w.df <= n * COMMON_SHARE);
    const matched = (rare.length ? rare : words).map((w) => w.term);
    query = db('knowledge_chunks as c')
      .joinRaw(
        'cross join lateral (select u.lexeme, cardinality(u.positions) + cardinality(array_positions(u.weights, ?)) as tf from unnest(c.search) u) as t',
        ['A'],
      )
      .joinRaw('join unnest(?::text[], ?::float8[]) as w(lexeme, idf) on w.lexeme = t.lexeme', [words.map((w) => w.lexeme), idf])
      .whereRaw("c.search @@ to_tsquery('english', ?)", [matched.join(' | ')])
      .groupBy('c.seq', 'c.id')
      .select(
        'c.seq',
        'c.id',
        db.raw(`sum(w.idf * t.tf * ${K1 + 1} / (t.tf + ${K1} * (${1 - B} + ${B} * c.token_count / ?))) as score`, [Number(stats.average)]),
      )
      .orderBy([{ column: 'score', order: 'desc' }, 'c.seq']);
  } else {
    query = db('knowledge_chunks_fts')
      .join('knowledge_chunks as c', 'c.seq', 'knowledge_chunks_fts.rowid')
      .whereRaw('knowledge_chunks_fts match ?', [terms.map((t) => `"${t}"`).join(' OR ')])
      .select('c.seq', 'c.id', db.raw('-bm25(knowledge_chunks_fts, 1.0, 2.0) as score'))
      .orderBy([{ column: 'score', order: 'desc' }, 'c.seq']);
  }
  query.whereIn('c.knowledge_base_id', scope.knowledgeBaseIds).limit(limit);
  whereMetadata(query, db, 'c.document_id', scope.filter);
  const rows = await queryRows<{ seq: number; id: string; score: number | string }>(query);
  return rows.map((r) => ({ seq: r.seq, id: r.id, score: Number(r.score) }));
}

/**
 * The chunks nearest to the query's embedding (one per embedding model, as each base embeds with
 * its own), by cosine similarity computed here over the bases' embeddings held in memory
 * (`baseVectors`): PostgreSQL without pgvector and SQLite alike. Both sides are unit vectors, so
 * the cosine is their dot product. A metadata filter narrows the chunks first, in SQL.
 */
export async function vectorCandidates(db: Executor, queries: Map<string, Float32Array>, scope: Scope, limit: number): Promise<Candidate[]> {
  const scored: Candidate[] = [];
  for (const [model, vector] of queries) {
    let allowed: Set<number> | undefined;
    if (scope.filter) {
      const query = db('knowledge_chunks as c').whereIn('c.knowledge_base_id', scope.knowledgeBaseIds).where('c.embedding_model', model).select('c.seq');
      whereMetadata(query, db, 'c.document_id', scope.filter);
      allowed = new Set((await queryRows<{ seq: number }>(query)).map((r) => r.seq));
    }
    for (const knowledgeBaseId of scope.knowledgeBaseIds) {
      const base = await baseVectors(db, knowledgeBaseId, model);
      const { dimensions, vectors, seqs, ids } = base;
      if (dimensions !== vector.length) continue;
      for (let i = 0; i < seqs.length; i++) {
        if (allowed && !allowed.has(seqs[i]!)) continue;
        let dot = 0;
        for (let d = 0, at = i * dimensions; d < dimensions; d++, at++) dot += vector[d]! * vectors[at]!;
        scored.push({ seq: seqs[i]!, id: ids[i]!, score: dot });
      }
    }
  }
  return scored.sort((a, b) => b.score - a.score || a.seq - b.seq).slice(0, limit);
}

// Private-use characters: they mark highlights in the database's copy of a text and cannot be confused with it.
const OPEN = '\ue000';
const CLOSE = '\ue001';

/**
 * Where the query's words are in each chunk's text (offsets into the chunk), as the database's own
 * stemming matched them: FTS5's `highlight()`, PostgreSQL's `ts_headline` over the whole text.
 */
export async function highlightRanges(db: Executor, terms: string[], seqs: number[]): Promise<Map<number, { start: number; end: number }[]>> {
  const ranges = new Map<number, { start: number; end: number }[]>();
  if (!terms.length || !seqs.length) return ranges;
  let rows: { seq: number; text: string; marked: string }[];
  if (isPostgres(db)) {
    rows = await queryRows<(typeof rows)[number]>(
      db('knowledge_chunks')
        .whereIn('seq', seqs)
        .select(
          'seq',
          'text',
          db.raw("ts_headline('english', text, to_tsquery('english', ?), ?) as marked", [
            terms.join(' | '),
            `StartSel=${OPEN}, StopSel=${CLOSE}, HighlightAll=true`,
          ]),
        ),
    );
  } else {
    rows = await queryRows<(typeof rows)[number]>(
      db('knowledge_chunks_fts')
        .join('knowledge_chunks as c', 'c.seq', 'knowledge_chunks_fts.rowid')
        .whereRaw('knowledge_chunks_fts match ?', [terms.map((t) => `"${t}"`).join(' OR ')])
        .whereIn('c.seq', seqs)
        .select('c.seq', 'c.text', db.raw('highlight(knowledge_chunks_fts, 0, ?, ?) as marked', [OPEN, CLOSE])),
    );
  }
  for (const row of rows) {
    const found = unmark(row.text, row.marked);
    if (found) ranges.set(row.seq, found);
  }
  return ranges;
}

/** The marked ranges, as offsets into the unmarked text; undefined when the marked copy is not the text with marks (then no offsets can be trusted). */
function unmark(text: string, marked: string): { start: number; end: number }[] | undefined {
  if (text.includes(OPEN) || text.includes(CLOSE)) return undefined;
  const found: { start: number; end: number }[] = [];
  let plain = 0;
  let start = -1;
  for (const char of marked) {
    if (char === OPEN) start = plain;
    else if (char === CLOSE) {
      if (start >= 0 && plain > start) found.push({ start, end: plain });
      start = -1;
    } else plain += char.length;
  }
  return marked.replaceAll(OPEN, '').replaceAll(CLOSE, '') === text ? mergeAdjacent(found) : undefined;
}

/** `ts_headline` marks each word of a phrase apart; ranges that touch or overlap become one. */
function mergeAdjacent(ranges: { start: number; end: number }[]): { start: number; end: number }[] {
  const merged: { start: number; end: number }[] = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}
