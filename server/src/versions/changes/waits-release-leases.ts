import type { RunEventJson, VersionChange } from '../change.js';
import { REMOVED } from './removed-waits.js';
import { liftToLegacy, runEventListsDown } from './typed-run-events.js';

const APPROVAL = /^approval\./;
const LEGACY_APPROVAL = 'run.legacy.approval.';

/** A runner's own `approval.*` event (lifted, below) under the type it was sent as; every other event as it is. */
const asSent = (event: RunEventJson): RunEventJson =>
  event.type.startsWith(LEGACY_APPROVAL) ? { ...event, type: event.type.slice('run.legacy.'.length) } : event;

/**
 * 2026-12-06: a run waits on a person through an approval (`createRunApproval`, with its run
 * token), giving up its lease; `decideApproval` ends the wait. `waitRun` (the runner kept its lease
 * while a human answered) and `resumeRun` (that answer) are gone from the newest version and
 * served to the versions before it: `waitRun` asks through an approval of the same kind (an
 * `approval` or `input` request, in every inbox) but keeps the lease as it always did, and
 * `resumeRun` decides the run's pending approval (approve, or answer with `input`). The types
 * `approval.*` are the server's now: a runner of an older version that appends one of its own has
 * it stored as `run.legacy.approval.*`, read back in its version under the type it sent.
 */
export const waitsReleaseLeases: VersionChange = {
  id: 'waits-release-leases',
  summary:
    'A run waits on a person by asking for an approval with its run token (`createRunApproval`), and gives up its lease until a person decides (`decideApproval`) or the approval expires; the next claim resumes it with the outcome (`resume`). `waitRun` and `resumeRun` are removed; version 2026-12-05 and older still have them: `waitRun` creates the approval and keeps the lease, `resumeRun` decides it. Run events of the types `approval.*` are written by the server only; one a runner of 2026-12-05 or older appends is stored as `run.legacy.approval.*` and read back in its version under its own type.',
  affects: [
    'waitRun',
    'resumeRun',
    'createRunApproval',
    'decideApproval',
    'appendRunEvents',
    'listRunEvents',
    'streamRun',
    'streamRuns',
    'streamAgentRuns',
    'streamThread',
  ],
  retires: ['waitRun', 'resumeRun'],
  requestUp: {
    appendRunEvents: (body) => {
      const events = (body as { events?: unknown } | undefined)?.events;
      if (!Array.isArray(events)) return body;
      for (const event of events as unknown[]) {
        const type = typeof event === 'object' && event !== null ? (event as { type?: unknown }).type : undefined;
        if (typeof type === 'string' && APPROVAL.test(type)) liftToLegacy(event as { type: string });
      }
      return body;
    },
  },
  responseDown: runEventListsDown(asSent),
  runEventDown: asSent,
  documentDown(document) {
    const copy = structuredClone(REMOVED) as { paths: Record<string, Record<string, unknown>>; schemas: Record<string, unknown> };
    Object.assign(document.paths, copy.paths);
    document.components ??= {};
    document.components.schemas = { ...document.components.schemas, ...copy.schemas };
  },
};
