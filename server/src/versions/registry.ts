import type { ApiVersionEntry } from './change.js';
import { finishedStreamNoContent } from './changes/finished-stream-no-content.js';
import { typedRunEvents } from './changes/typed-run-events.js';
import { waitsReleaseLeases } from './changes/waits-release-leases.js';

/**
 * Every version of the API, oldest first; the last is the one handlers speak, and the bundled
 * OpenAPI document's `info.version`. A breaking change to the spec adds its change module to a
 * new entry here (see docs/architecture.md, "API versions").
 */
export const API_VERSIONS: readonly ApiVersionEntry[] = [
  // The API as first released.
  { version: '2026-11-01', releasedAt: '2026-11-01T00:00:00.000Z', changes: [] },
  { version: '2026-12-05', releasedAt: '2026-12-05T00:00:00.000Z', changes: [typedRunEvents, finishedStreamNoContent] },
  { version: '2026-12-06', releasedAt: '2026-12-06T00:00:00.000Z', changes: [waitsReleaseLeases] },
];
