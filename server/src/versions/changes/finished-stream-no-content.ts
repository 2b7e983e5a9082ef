import { Readable } from 'node:stream';
import { EVENT_STREAM } from '../../realtime/sse.js';
import type { VersionChange } from '../change.js';

const PATH = '/api/v1/realtime/runs/{runId}';

/**
 * 2026-12-05: a finished run's stream resumed at or past its last event answers 204, which stops
 * an EventSource from reconnecting. Before, it answered an empty stream (200), which EventSource
 * reconnects to forever.
 */
export const finishedStreamNoContent: VersionChange = {
  id: 'finished-stream-no-content',
  summary:
    "A finished run's stream (`streamRun`) resumed at or past its last event answers 204 No Content, which stops an EventSource from reconnecting. Version 2026-11-01 answers an empty stream (200) instead.",
  affects: ['streamRun'],
  responseDown: {
    streamRun: (response) =>
      response.status === 204
        ? { status: 200, body: '', stream: Readable.from([]), contentType: EVENT_STREAM.contentType, headers: { ...response.headers, ...EVENT_STREAM.headers } }
        : response,
  },
  documentDown(document) {
    const operation = document.paths[PATH]?.get as { description?: string; responses: Record<string, unknown> };
    delete operation.responses['204'];
    if (operation.description) operation.description = operation.description.replace(/ Reconnecting when nothing is left.*?stop\s+reconnecting\./s, '');
  },
};
