import type { OpenApiDocument } from '../../spec/load-spec.js';
import type { RunEventJson, VersionChange, VersionedResponse } from '../change.js';

/** The types whose `data` has a schema since this change, and those schemas. */
const TYPED = new Map([
  ['log', 'RunLogEventData'],
  ['output.delta', 'RunOutputDeltaEventData'],
  ['usage', 'RunUsageEventData'],
]);
const LEGACY = 'run.legacy.';

/**
 * The events a lift re-typed, so the handler accepts their `run.` type from them alone: a runner
 * in a newer version cannot write a type of the server's.
 */
const lifted = new WeakSet<object>();
export const isLiftedLegacyEvent = (event: object) => lifted.has(event);

/** Re-types an event a runner of an older version sent as `run.legacy.<type>`, which only a lift can write. */
export function liftToLegacy(event: { type: string }): void {
  event.type = `${LEGACY}${event.type}`;
  lifted.add(event);
}

/** A `run.legacy.*` event under the type it was sent as; every other event as it is. */
const asSent = (event: RunEventJson): RunEventJson => (event.type.startsWith(LEGACY) ? { ...event, type: event.type.slice(LEGACY.length) } : event);

/** The `responseDown` of the operations that answer with run events, each event lowered by `down`. */
export const runEventListsDown = (down: (event: RunEventJson) => RunEventJson): Record<string, (response: VersionedResponse) => VersionedResponse> => {
  const listDown =
    (key: 'data' | 'events') =>
    (response: VersionedResponse): VersionedResponse => {
      const body = response.body as Record<string, RunEventJson[]> | undefined;
      if (response.status !== 200 || !Array.isArray(body?.[key])) return response;
      return { ...response, body: { ...body, [key]: body[key].map(down) } };
    };
  return { listRunEvents: listDown('data'), appendRunEvents: listDown('events') };
};

type Schemas = Record<string, Record<string, unknown>>;

/**
 * 2026-12-05: run events of the types `log`, `output.delta` and `usage` have a typed `data`, and
 * `RunEvent` is the union of one schema per type. Version 2026-11-01 took any object as their
 * `data`: such an event that does not fit its type's schema is lifted to `run.legacy.<type>` (kept
 * as sent, under a type of the server's, which no runner can write), and lowered back to its own
 * type for that version.
 */
export const typedRunEvents: VersionChange = {
  id: 'typed-run-events',
  summary:
    'Run events of the types `log`, `output.delta` and `usage` have a typed `data` (`RunLogEventData`, `RunOutputDeltaEventData`, `RunUsageEventData`), checked when a runner appends them (422), and `RunEvent` is the union of one schema per type. In version 2026-11-01 their `data` is free-form: an event appended in that version whose `data` does not fit its type is stored as `run.legacy.<type>` and read back in that version under its own type.',
  affects: ['appendRunEvents', 'listRunEvents', 'streamRun', 'streamRuns', 'streamAgentRuns', 'RunEvent', 'RunEventInput'],
  requestUp: {
    appendRunEvents: (body, { conforms }) => {
      const events = (body as { events?: unknown } | undefined)?.events;
      if (!Array.isArray(events)) return body;
      // Not validated yet: anything that is not an event is left for validation to refuse.
      for (const event of events as unknown[]) {
        if (typeof event !== 'object' || event === null) continue;
        const { type, data } = event as { type?: unknown; data?: unknown };
        const schema = typeof type === 'string' ? TYPED.get(type) : undefined;
        if (!schema || conforms(schema, data ?? {})) continue;
        liftToLegacy(event as { type: string });
      }
      return body;
    },
  },
  responseDown: runEventListsDown(asSent),
  runEventDown: asSent,
  documentDown(document: OpenApiDocument) {
    const schemas = document.components!.schemas as Schemas;
    const custom = schemas.RunCustomEvent as { required: string[]; properties: Record<string, Record<string, unknown>> };
    const type = { type: 'string', pattern: custom.properties.type!.pattern, maxLength: 64 };
    schemas.RunEvent = {
      title: 'RunEvent',
      description:
        'Something that happened in a run: a status change (`status`), a log line (`log`), a piece of output (`output.delta`), token usage (`usage`), ... Run events are append-only and immutable.',
      type: 'object',
      additionalProperties: false,
      required: custom.required,
      properties: {
        ...custom.properties,
        type: { ...type, description: 'Event type, lower-case dotted words, e.g. `status`, `log`, `output.delta`, `usage`.' },
        data: { type: 'object', description: 'Payload of the event (free-form, depends on `type`).', additionalProperties: true },
      },
    };
    const input = schemas.RunEventInput as { allOf?: unknown; description?: string; properties: Record<string, unknown> };
    delete input.allOf;
    input.description =
      'An event a runner appends to its run. The type `status` and the types starting with `run.` are reserved to the server (422 `validation-error`).';
    input.properties.data = {
      type: 'object',
      description: 'Payload of the event (free-form, depends on `type`).',
      additionalProperties: true,
      maxProperties: 100,
      default: {},
    };
    for (const name of ['Status', 'Log', 'OutputDelta', 'Usage', 'Custom']) {
      delete schemas[`Run${name}Event`];
      delete schemas[`Run${name}EventData`];
    }
  },
};
