import type { Knex } from 'knex';
import { isPostgres, type Executor } from './database.js';
import { queryRows, selectRows } from './statements.js';
import { notFound } from '../problems/problems.js';

export type PageQuery = { page?: number; pageSize?: number; sort?: string };

/**
 * Narrows a list of credentials (`revoked_at`, nullable `expires_at`) to one status: `revoked`,
 * `expired` (not revoked, past its expiry) or `active` (neither).
 */
export function whereCredentialStatus(query: Knex.QueryBuilder, status: 'active' | 'expired' | 'revoked' | undefined, now: string): void {
  if (status === 'revoked') query.whereNotNull('revoked_at');
  if (status === 'expired') query.whereNull('revoked_at').where('expires_at', '<=', now);
  if (status === 'active')
    query.whereNull('revoked_at').where((q) => {
      q.whereNull('expires_at').orWhere('expires_at', '>', now);
    });
}

/** forUpdate: lock against writers and other lockers; forShare: lock against writers only. */
export type ReadOptions = { forUpdate?: boolean; forShare?: boolean };

/**
 * A row type's columns, listed in full (a column added to the type and not here does not compile):
 * reads that name their columns are prepared on PostgreSQL, `select *` is not (db/prepared-statements.ts).
 */
export const columnsOf = <Row>(columns: Record<keyof Row, true>): readonly string[] => Object.keys(columns);

/**
 * The row of `table` that `where` names (its id, and the tenant it must belong to), locked as
 * `options` ask; 404 naming `what` when there is none. Outside a transaction on SQLite it is read
 * on the read connection; SQLite has no row locks (its transactions are serialised whole).
 */
export async function getRow<Row>(
  db: Executor,
  table: string,
  where: { id: string } & Record<string, string>,
  what: string,
  options: ReadOptions = {},
  select: readonly string[] = ['*'],
): Promise<Row> {
  const lock = !isPostgres(db) ? '' : options.forUpdate ? ' for update' : options.forShare ? ' for share' : '';
  const columns = Object.keys(where);
  const sql = `select ${select.join(', ')} from ${table} where ${columns.map((c) => `${c} = ?`).join(' and ')}${lock}`;
  const [row] = await selectRows<Row>(db, sql, Object.values(where));
  if (!row) throw notFound(what, where.id);
  return row;
}

/**
 * A sort key: a column; a text column ordered case-insensitively by code point on every database;
 * or a nullable column whose nulls come last in both directions (the databases disagree by default).
 */
export type SortColumn = string | { text: string } | { nullsLast: string };

function orderBy(query: Knex.QueryBuilder, column: SortColumn, direction: 'asc' | 'desc'): string {
  if (typeof column === 'string') return `${column} ${direction}`;
  if ('nullsLast' in column) return `(case when ${column.nullsLast} is null then 1 else 0 end) asc, ${column.nullsLast} ${direction}`;
  // PostgreSQL's locale collation ignores spaces and punctuation; "C" orders like SQLite does.
  return isPostgres(query as unknown as Executor) ? `lower(${column.text}) collate "C" ${direction}` : `lower(${column.text}) ${direction}`;
}

/** Fetches one page of a query and the total, newest first unless `sort` says otherwise. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- Row is the rows toItem reads; the stores' knex queries are untyped (a typed builder makes each call an unsafe argument)
export async function listPage<Row, Item>(
  query: Knex.QueryBuilder,
  params: PageQuery,
  sortColumns: Record<string, SortColumn>,
  toItem: (row: Row) => Item,
  tieBreaker = 'id',
) {
  const page = params.page ?? 1;
  const pageSize = params.pageSize ?? 20;
  const sort = params.sort ?? '-createdAt';
  const descending = sort.startsWith('-');
  const direction = descending ? 'desc' : 'asc';
  const key = sort.replace(/^-/, '');
  const order = orderBy(query, Object.hasOwn(sortColumns, key) ? sortColumns[key]! : 'created_at', direction);

  const [counted] = await queryRows<{ total: number | string }>(query.clone().clearSelect().clearOrder().count({ total: '*' }));
  const rows = await queryRows<Row>(
    query
      .clone()
      .orderByRaw(`${order}, ${tieBreaker} ${direction}`)
      .limit(pageSize)
      .offset((page - 1) * pageSize),
  );
  const count = Number(counted!.total);
  return {
    data: rows.map(toItem),
    pagination: { page, pageSize, total: count, totalPages: Math.ceil(count / pageSize) },
  };
}

/**
 * Which of `ids` are rows of `table` (one of ours, never a client's string) in the application, in
 * one query: the others are another tenant's, or nothing.
 */
export async function idsInApplication(db: Executor, table: 'tasks' | 'agents', applicationId: string, ids: string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const rows = await selectRows<{ id: string }>(db, `select id from ${table} where application_id = ? and id in (${ids.map(() => '?').join(', ')})`, [
    applicationId,
    ...ids,
  ]);
  return new Set(rows.map((r) => r.id));
}

/** Text matched literally by LIKE ... ESCAPE '\\'. */
export const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** A case-insensitive "contains" pattern with LIKE's wildcards escaped. */
export const containsPattern = (text: string) => `%${escapeLike(text.toLowerCase())}%`;
