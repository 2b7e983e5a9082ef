import type { Knex } from 'knex';
import { isPostgres, type Executor } from '../db/database.js';

export type PageQuery = { page?: number; pageSize?: number; sort?: string };

export type ReadOptions = { forUpdate?: boolean };

/** A sort key: a column, or a text column ordered case-insensitively by code point on every database. */
export type SortColumn = string | { text: string };

function orderExpression(query: Knex.QueryBuilder, column: SortColumn): string {
  if (typeof column === 'string') return column;
  const pg = isPostgres(query as unknown as Executor);
  // PostgreSQL's locale collation ignores spaces and punctuation; "C" orders like SQLite does.
  return pg ? `lower(${column.text}) collate "C"` : `lower(${column.text})`;
}

/** Fetches one page of a query and the total, newest first unless `sort` says otherwise. */
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
  const column = orderExpression(query, sortColumns[sort.replace(/^-/, '')] ?? 'created_at');
  const direction = descending ? 'desc' : 'asc';

  const [{ total }] = (await query.clone().clearSelect().clearOrder().count({ total: '*' })) as [{ total: number | string }];
  const rows = (await query
    .clone()
    .orderByRaw(`${column} ${direction}, ${tieBreaker} ${direction}`)
    .limit(pageSize)
    .offset((page - 1) * pageSize)) as Row[];
  const count = Number(total);
  return {
    data: rows.map(toItem),
    pagination: { page, pageSize, total: count, totalPages: Math.ceil(count / pageSize) },
  };
}

/** Text matched literally by LIKE ... ESCAPE '\\'. */
export const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** A case-insensitive "contains" pattern with LIKE's wildcards escaped. */
export const containsPattern = (text: string) => `%${escapeLike(text.toLowerCase())}%`;
