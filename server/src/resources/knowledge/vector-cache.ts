import type { Executor } from '../../db/database.js';
import { queryRows } from '../../db/statements.js';
import { unpackVector } from './chunks.js';

/** The embeddings of one base's chunks by one model, packed for scoring: row i is `vectors[i * dimensions, (i + 1) * dimensions)`. */
export type BaseVectors = { seqs: Int32Array; ids: string[]; dimensions: number; vectors: Float32Array };

type Entry = BaseVectors & { stamp: string };

/** Held across queries up to this many bytes of vectors, least recently used out first. */
const MAX_BYTES = 256 * 1024 * 1024;
const entries = new Map<string, Entry>();
let heldBytes = 0;

function remember(key: string, entry: Entry): void {
  const previous = entries.get(key);
  if (previous) heldBytes -= previous.vectors.byteLength;
  entries.delete(key);
  entries.set(key, entry);
  heldBytes += entry.vectors.byteLength;
  for (const [oldest, held] of entries) {
    if (heldBytes <= MAX_BYTES || oldest === key) break;
    entries.delete(oldest);
    heldBytes -= held.vectors.byteLength;
  }
}

/**
 * A base's chunk embeddings, read from the database only when they changed since this process last
 * read them. Chunks are only ever inserted (with a growing `seq`) or deleted, so their count and
 * highest `seq` together change with any change; a replica that missed one reads again.
 */
export async function baseVectors(db: Executor, knowledgeBaseId: string, model: string): Promise<BaseVectors> {
  const scope = { knowledge_base_id: knowledgeBaseId, embedding_model: model };
  const [counted] = await queryRows<{ n: number | string; top: number | null }>(
    db('knowledge_chunks').where(scope).whereNotNull('embedding').select(db.raw('count(*) as n'), db.raw('max(seq) as top')),
  );
  const stamp = `${String(counted?.n ?? 0)}:${String(counted?.top ?? '')}`;
  const key = `${knowledgeBaseId}\u0000${model}`;
  const held = entries.get(key);
  if (held?.stamp === stamp) {
    remember(key, held);
    return held;
  }
  const rows = await queryRows<{ seq: number; id: string; embedding: Buffer }>(
    db('knowledge_chunks').where(scope).whereNotNull('embedding').select('seq', 'id', 'embedding').orderBy('seq'),
  );
  const dimensions = rows[0] ? rows[0].embedding.byteLength / 4 : 0;
  const kept = rows.filter((r) => r.embedding.byteLength === dimensions * 4);
  const vectors = new Float32Array(kept.length * dimensions);
  kept.forEach((row, i) => vectors.set(unpackVector(row.embedding), i * dimensions));
  const entry: Entry = { stamp, seqs: Int32Array.from(kept.map((r) => r.seq)), ids: kept.map((r) => r.id), dimensions, vectors };
  remember(key, entry);
  return entry;
}
