import { createHash } from 'node:crypto';

/** Model names the test provider embeds by features, e.g. `hash-embed-384`. */
export const HASH_EMBED_PREFIX = 'hash-embed';

/** The dimension a request asks for: `dimensions`, else the number in the model's name, else 384. */
export function hashEmbedDimensions(model: string, dimensions: unknown): number {
  if (typeof dimensions === 'number') return dimensions;
  const named = /(\d+)$/.exec(model);
  return named ? Number(named[1]) : 384;
}

/** Lower-cased words (runs of letters and digits) and the bigrams of neighbouring words. */
function features(text: string): string[] {
  const words = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
  return [...words, ...words.slice(1).map((word, i) => `${words[i]!} ${word}`)];
}

/**
 * Feature hashing: each word and bigram adds ±1 at a dimension picked by its hash, then the sum is
 * scaled to unit length. Texts sharing words share dimensions, so they come out closer than
 * unrelated texts, deterministically and without a model. A text with no words is the zero vector.
 */
export function hashingEmbedding(text: string, dimensions: number): number[] {
  const values = new Array<number>(dimensions).fill(0);
  for (const feature of features(text)) {
    const digest = createHash('sha1').update(feature).digest();
    values[digest.readUInt32LE(0) % dimensions]! += digest[4]! & 1 ? 1 : -1;
  }
  const norm = Math.sqrt(values.reduce((sum, v) => sum + v * v, 0));
  return norm > 0 ? values.map((v) => v / norm) : values;
}

/** The cosine similarity of two vectors (the dot product of unit vectors). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
