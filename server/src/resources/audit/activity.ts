import type { Executor } from '../../db/database.js';
import type { AuditRow } from './store.js';

/** Verbs whose past tense is not the verb and "d"/"ed". */
const PAST: Record<string, string> = {
  sign_up: 'signed up as',
  log_in: 'logged in',
  log_out: 'logged out',
  create_token: 'created a token for',
  rotate_secret: 'rotated the secret of',
  append_events: 'appended events to',
  heartbeat: 'extended',
  wait: 'set waiting',
  invoke: 'invoked',
  redeliver: 'redelivered',
  test: 'tested',
  pruned: 'pruned',
  chat_completion: 'called a model (chat completion) with',
  embeddings: 'called a model (embeddings) with',
  message: 'called a model (messages) with',
  count_tokens: 'counted tokens with',
  audio_transcription: 'transcribed audio with',
  claim: 'claimed',
  remove: 'removed',
};

const pastOf = (verb: string) => PAST[verb] ?? (verb.endsWith('e') ? `${verb}d` : `${verb}ed`).replace(/_/g, ' ');

/** A resource's name as a person reads it, from what the event recorded of it. */
function titleOf(row: AuditRow): string | null {
  for (const snapshot of [row.after, row.before]) {
    if (!snapshot) continue;
    const value = JSON.parse(snapshot) as Record<string, unknown>;
    for (const key of ['name', 'title', 'email', 'externalId', 'alias']) {
      const title = value[key];
      if (typeof title === 'string' && title) return title.slice(0, 300);
    }
  }
  return null;
}

type Named = { id: string; name: string | null };

/** Looks up the display names of the actors on a page, one query per kind. */
async function actorNames(db: Executor, rows: AuditRow[]): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const ids = (select: (r: AuditRow) => string | null) => [...new Set(rows.map(select).filter((id): id is string => id !== null))];
  const users = ids((r) => r.actor_user_id);
  if (users.length) {
    for (const u of await db('users').whereIn('id', users).select<(Named & { email: string })[]>('id', 'name', 'email')) names.set(u.id, u.name ?? u.email);
  }
  const byType = (type: string) => ids((r) => (r.actor_type === type ? r.actor_id : null));
  const lookups: [string, string, string][] = [
    ['api_key', 'api_keys', 'name'],
    ['runner', 'runners', 'name'],
    ['trigger', 'triggers', 'name'],
  ];
  for (const [type, table, column] of lookups) {
    const wanted = byType(type);
    if (wanted.length) for (const r of await db(table).whereIn('id', wanted).select<Named[]>('id', `${column} as name`)) if (r.name) names.set(r.id, r.name);
  }
  const endUsers = byType('end_user_token');
  if (endUsers.length) {
    for (const e of await db('end_users').whereIn('id', endUsers).select<(Named & { external_id: string })[]>('id', 'name', 'external_id')) {
      names.set(e.id, e.name ?? e.external_id);
    }
  }
  return names;
}

/** A page of audit events as people read them. */
export async function activityOf(db: Executor, rows: AuditRow[]) {
  const names = await actorNames(db, rows);
  return rows.map((row) => {
    const person = row.actor_user_id;
    const actorId = person ?? row.actor_id;
    const name =
      row.actor_type === 'system'
        ? 'Switchboard'
        : row.actor_type === 'anonymous' && !person
          ? 'An unidentified caller'
          : ((actorId && names.get(actorId)) ?? `${row.actor_type.replace(/_/g, ' ')} ${actorId ?? ''}`.trim());
    const title = titleOf(row);
    const verb = row.action.slice(row.action.indexOf('.') + 1);
    const noun = row.resource_type.replace(/_/g, ' ');
    const target = [noun, title ?? row.resource_id].filter(Boolean).join(' ');
    const summary =
      row.outcome === 'denied'
        ? `${name} was refused (${row.status}): ${row.action}${row.resource_id ? ` on ${row.resource_id}` : ''}`
        : `${name} ${pastOf(verb)} ${target}`.trim();
    return {
      id: row.id,
      object: 'activity' as const,
      action: row.action as never,
      outcome: row.outcome as 'succeeded' | 'denied',
      actor: { type: row.actor_type as never, id: actorId, name: name.slice(0, 300) },
      resource: { type: row.resource_type, id: row.resource_id, title },
      applicationId: row.application_id,
      runId: row.run_id,
      endUserId: row.end_user_id,
      summary: summary.replace(/\p{Cc}/gu, ' ').slice(0, 800),
      createdAt: row.created_at,
    };
  });
}
