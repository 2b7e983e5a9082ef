import type {
  RunApprovalEvent,
  RunCustomEvent,
  RunEventList,
  RunLogEvent,
  RunOutputDeltaEvent,
  RunStatusEvent,
  RunThreadMessageEvent,
  RunUsageEvent,
} from './generated/types.gen.js';

/**
 * A run event, as a union discriminated by `type` over the event schemas of the spec:
 * `if (event.type === 'log')` narrows `event.data` to `{ level?, message }`.
 *
 * Runners may also append events of types of their own (the spec's `RunCustomEvent`). A member
 * whose `type` is any string would stop every `type` check from narrowing (TypeScript cannot say
 * "any string but these"), so they are left to `Custom`: name the ones you emit, e.g.
 * `RunEvent<RunCustomEvent & { type: 'tool.call'; data: { name: string } }>`, or pass
 * `RunCustomEvent` to take them all untyped.
 */
export type RunEvent<Custom extends RunCustomEvent = never> =
  RunStatusEvent | RunLogEvent | RunOutputDeltaEvent | RunUsageEvent | RunThreadMessageEvent | RunApprovalEvent | Custom;

/** A page of `listRunEvents`, its events typed as `RunEvent`. */
export type RunEventPage<Custom extends RunCustomEvent = never> = Omit<RunEventList, 'data'> & { data: RunEvent<Custom>[] };
