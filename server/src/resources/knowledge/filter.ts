import type { Knex } from 'knex';
import type { components } from '../../generated/openapi.js';
import { isPostgres, type Executor } from '../../db/database.js';

export type KnowledgeFilter = components['schemas']['KnowledgeFilter'];
type Value = components['schemas']['KnowledgeFilterValue'];
type Condition = components['schemas']['KnowledgeFilterCondition'];

const RANGES = { gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

/** The metadata row holds exactly this value: the same type, the same value. */
function equals(q: Knex.QueryBuilder, value: Value): void {
  if (typeof value === 'number') q.where({ 'm.value_type': 'number', 'm.number_value': value });
  else q.where({ 'm.value_type': typeof value, 'm.text_value': String(value) });
}

/**
 * Narrows a query over chunks (`documentColumn` names their document) to the documents whose
 * metadata meets every condition, each one an indexed EXISTS over `knowledge_document_metadata`.
 * Strings are compared byte by byte on both databases (PostgreSQL's "C" collation), so ISO dates
 * order as dates and both answer alike.
 */
export function whereMetadata(query: Knex.QueryBuilder, db: Executor, documentColumn: string, filter: KnowledgeFilter | undefined): void {
  const collate = isPostgres(db) ? ' collate "C"' : '';
  for (const [key, condition] of Object.entries<Condition>(filter ?? {})) {
    const field = (q: Knex.QueryBuilder) =>
      q.select(db.raw('1')).from('knowledge_document_metadata as m').whereRaw(`m.document_id = ${documentColumn}`).where('m.key', key);
    const has = (narrow?: (q: Knex.QueryBuilder) => void) => (q: Knex.QueryBuilder) => {
      field(q);
      if (narrow) q.where(narrow);
    };
    const anyOf = (values: Value[]) => (q: Knex.QueryBuilder) => {
      for (const value of values) q.orWhere((one) => equals(one, value));
    };
    if (typeof condition !== 'object') {
      query.whereExists(has((q) => equals(q, condition)));
      continue;
    }
    if (condition.eq !== undefined) query.whereExists(has((q) => equals(q, condition.eq!)));
    if (condition.ne !== undefined) query.whereNotExists(has((q) => equals(q, condition.ne!)));
    if (condition.in) query.whereExists(has(anyOf(condition.in)));
    if (condition.nin) query.whereNotExists(has(anyOf(condition.nin)));
    for (const [op, sql] of Object.entries(RANGES) as [keyof typeof RANGES, string][]) {
      const bound = condition[op];
      if (bound === undefined) continue;
      query.whereExists(
        has((q) => {
          if (typeof bound === 'number') q.where('m.value_type', 'number').where('m.number_value', sql, bound);
          else q.where('m.value_type', 'string').whereRaw(`m.text_value${collate} ${sql} ?`, [bound]);
        }),
      );
    }
    if (condition.exists === true) query.whereExists(has());
    if (condition.exists === false) query.whereNotExists(has());
  }
}
