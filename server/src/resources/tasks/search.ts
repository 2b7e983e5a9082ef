import type { Knex } from 'knex';
import { isPostgres, type Executor } from '../../db/database.js';

/** At most this many words of `q` count: enough for any search a person types. */
const MAX_TERMS = 16;

/**
 * The words of a search, split where the index splits text (at anything but a letter or a digit),
 * lower-cased. Only letters and digits are left, so no word can carry the query syntax of
 * either database.
 */
export const searchTerms = (q: string): string[] =>
  q
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)
    .slice(0, MAX_TERMS);

/**
 * Narrows a task query to those whose title or description has a word starting with each term:
 * FTS5 prefix phrases on SQLite, a prefix tsquery on PostgreSQL (migration 0022 builds both indexes).
 */
export function whereMatches(query: Knex.QueryBuilder, db: Executor, terms: string[]): void {
  if (!terms.length) return;
  if (isPostgres(db)) query.whereRaw(`tasks.search @@ to_tsquery('simple', ?)`, [terms.map((t) => `'${t}':*`).join(' & ')]);
  else query.whereRaw('tasks.search_rowid in (select rowid from tasks_fts where tasks_fts match ?)', [terms.map((t) => `"${t}"*`).join(' ')]);
}
