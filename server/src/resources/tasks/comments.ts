import type { components } from '../../generated/openapi.js';
import type { Executor } from '../../db/database.js';
import { listPage, type PageQuery } from '../../db/lists.js';
import { newId } from '../../util/ids.js';
import { fromJsonColumn, toJsonColumn } from '../../util/json-column.js';
import { nowIso } from '../../util/time.js';
import type { TaskActor } from './store.js';

export type TaskComment = components['schemas']['TaskComment'];

type CommentRow = {
  id: string;
  task_id: string;
  body: string;
  author_type: TaskActor['type'];
  author_id: string;
  mentions: string;
  started_run_ids: string;
  created_at: string;
};

const toComment = (row: CommentRow): TaskComment => ({
  id: row.id,
  object: 'task_comment',
  taskId: row.task_id,
  body: row.body,
  author: { type: row.author_type, id: row.author_id },
  mentions: fromJsonColumn<string[]>(row.mentions, []),
  startedRunIds: fromJsonColumn<string[]>(row.started_run_ids, []),
  createdAt: row.created_at,
});

/** At most this many agents a comment mentions count (the spec's `mentions.maxItems`). */
const MAX_MENTIONS = 20;

/** The agent ids a body mentions as `@agent_...`, each once, in the order they first appear. */
export function mentionedIds(body: string): string[] {
  const ids = [...body.matchAll(/@(agent_[0-7][0-9a-hjkmnp-tv-z]{25})(?![0-9a-z])/g)].map((m) => m[1]!);
  return [...new Set(ids)].slice(0, MAX_MENTIONS);
}

export async function insertComment(
  db: Executor,
  taskId: string,
  comment: { body: string; author: TaskActor; mentions: string[]; startedRunIds: string[] },
): Promise<TaskComment> {
  const row: CommentRow = {
    id: newId('tcmt'),
    task_id: taskId,
    body: comment.body,
    author_type: comment.author.type,
    author_id: comment.author.id,
    mentions: toJsonColumn(comment.mentions),
    started_run_ids: toJsonColumn(comment.startedRunIds),
    created_at: nowIso(),
  };
  await db('task_comments').insert(row);
  return toComment(row);
}

export function listComments(db: Executor, taskId: string, params: PageQuery) {
  return listPage(db('task_comments').where({ task_id: taskId }), { ...params, sort: 'createdAt' }, { createdAt: 'created_at' }, toComment);
}

export async function setStartedRuns(db: Executor, comment: TaskComment, runIds: string[]): Promise<TaskComment> {
  await db('task_comments')
    .where({ id: comment.id })
    .update({ started_run_ids: toJsonColumn(runIds) });
  return { ...comment, startedRunIds: runIds };
}
