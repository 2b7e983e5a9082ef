/** The indexing workers of this process hear at once of a document queued, instead of at their next poll. */
const queued = new Set<() => void>();

export function onDocumentQueued(listener: () => void): () => void {
  queued.add(listener);
  return () => queued.delete(listener);
}

export function wakeIndexers(): void {
  for (const listener of queued) listener();
}
