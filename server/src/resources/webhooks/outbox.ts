import { afterCommit } from '../../db/after-commit.js';
import type { Executor } from '../../db/database.js';
import { insertRows, selectRows } from '../../db/statements.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';
import type { MessageRow, WebhookEventType } from './store.js';

/** Event types an endpoint receives only when its filter names them (or their family): an empty filter does not take them. */
const OPT_IN = new Set(['audit.event']);

/** Whether a filter entry names event types an endpoint must opt in to. */
export const namesOptIn = (filter: string) => [...OPT_IN].some((type) => filter === type || (filter.endsWith('.*') && type.startsWith(filter.slice(0, -1))));

/** Whether an endpoint's filter takes an event type: no filter takes all (but the opt-in ones); `run.*` takes every run event. */
export const filterTakes = (filters: string[], type: string) =>
  (filters.length === 0 && !OPT_IN.has(type)) || filters.some((f) => f === type || (f.endsWith('.*') && type.startsWith(f.slice(0, -1))));

const listeners = new Set<() => void>();

/** Delivery workers of this process hear of new messages at once, instead of at their next poll. */
export function onOutboxWrite(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const wake = () => {
  for (const listener of listeners) listener();
};

/** After the transaction commits: until then the messages are invisible to the workers. */
export const wakeAfterCommit = (db: Executor) => afterCommit(db, wake);

/** An enabled endpoint an event may be sent to, with its filter. */
export type EndpointTarget = { id: string; event_types: string };

const ENDPOINTS_SQL = 'select id, event_types from webhook_endpoints where application_id = ? and disabled_reason is null';

/** The application's enabled endpoints, as a query to run alone or inside a larger statement (see `insertRun`). */
export const enabledEndpoints = (db: Executor, applicationId: string) =>
  db('webhook_endpoints').where({ application_id: applicationId }).whereNull('disabled_reason').select('id', 'event_types');

/**
 * Writes one message per enabled endpoint whose filter takes the event, in the caller's transaction,
 * so the event is delivered if and only if the change it reports commits (the outbox). `endpointId`
 * sends to that endpoint alone, whatever its filter (a test ping).
 */
export async function recordEvent(db: Executor, applicationId: string, type: WebhookEventType, data: object, endpointId?: string): Promise<MessageRow[]> {
  const endpoints = await selectRows<EndpointTarget>(
    db,
    `${ENDPOINTS_SQL}${endpointId ? ' and id = ?' : ''}`,
    endpointId ? [applicationId, endpointId] : [applicationId],
  );
  return recordEventFor(db, endpoints, applicationId, type, data, endpointId !== undefined);
}

/** `recordEvent` with the enabled endpoints already read in the same transaction; `ping` sends to each of them whatever its filter. */
export async function recordEventFor(
  db: Executor,
  endpoints: EndpointTarget[],
  applicationId: string,
  type: WebhookEventType,
  data: object,
  ping = false,
): Promise<MessageRow[]> {
  const targets = ping ? endpoints : endpoints.filter((e) => filterTakes(fromJsonColumn(e.event_types, []), type));
  if (targets.length === 0) return [];
  const now = nowIso();
  const eventId = newId('evt');
  const payload = JSON.stringify({ id: eventId, type, createdAt: now, data });
  const rows: MessageRow[] = targets.map((endpoint) => ({
    id: newId('whmsg'),
    application_id: applicationId,
    endpoint_id: endpoint.id,
    event_id: eventId,
    event_type: type,
    payload,
    status: 'pending',
    attempts: 0,
    schedule_step: 0,
    next_attempt_at: now,
    locked_until: null,
    last_attempt_at: null,
    last_status_code: null,
    last_error: null,
    created_at: now,
    updated_at: now,
  }));
  await insertRows(db, 'webhook_messages', rows);
  wakeAfterCommit(db);
  return rows;
}
