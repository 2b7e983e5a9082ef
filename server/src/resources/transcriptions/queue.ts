/**
 * The transcription workers of this process hear at once of a job queued (instead of at their next
 * poll) and of a job let go, cancelled or deleted (instead of at their next claim extension, which
 * is how workers of other replicas learn it).
 */
const queued = new Set<() => void>();
const letGo = new Set<(id: string) => void>();

export function onTranscriptionQueued(listener: () => void): () => void {
  queued.add(listener);
  return () => queued.delete(listener);
}

export function wakeTranscribers(): void {
  for (const listener of queued) listener();
}

export function onTranscriptionLetGo(listener: (id: string) => void): () => void {
  letGo.add(listener);
  return () => letGo.delete(listener);
}

export function letGoOfTranscription(id: string): void {
  for (const listener of letGo) listener(id);
}
