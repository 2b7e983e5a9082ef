/** Reciprocal rank fusion: each id scores the sum over the lists that hold it of 1 / (k + its rank there), ranks from 1. */
export function reciprocalRankFusion(lists: string[][], k = 60): Map<string, number> {
  const fused = new Map<string, number>();
  for (const list of lists) list.forEach((id, i) => fused.set(id, (fused.get(id) ?? 0) + 1 / (k + i + 1)));
  return fused;
}
