import { createHash } from 'node:crypto';

type QueryConfig = { text?: unknown; values?: unknown[]; name?: string };
/** The part of a `pg` client that knex queries through. */
export type PgConnection = { query: (config: unknown, ...rest: unknown[]) => unknown };

/**
 * Statements a connection keeps prepared at most. knex writes a new text for each length of a
 * list (`in (...)`, multi-row inserts), and each prepared one stays on the server as long as the
 * connection: past this many the rest are planned each time, as before.
 */
const PER_CONNECTION = 200;
/** Texts whose names are remembered: the same texts recur on every connection. */
const REMEMBERED = 2000;

/**
 * `select *` and `returning *` are never prepared: a plan cached for them breaks ("cached plan
 * must not change result type") when a rolling upgrade's migration adds a column under a replica
 * that is still running. A statement that names its columns is re-planned by PostgreSQL instead.
 */
const ALL_COLUMNS = /\b(?:select|returning)\s+(?:distinct\s+)?(?:"?\w+"?\.)?\*/i;

const names = new Map<string, string | null>();

function statementName(text: string): string | null {
  let name = names.get(text);
  if (name !== undefined) return name;
  name = ALL_COLUMNS.test(text) ? null : `sb_${createHash('sha1').update(text).digest('base64url')}`;
  if (names.size < REMEMBERED) names.set(text, name);
  return name;
}

/**
 * Makes a PostgreSQL connection prepare its parameterised statements once (named by a hash of
 * their text) and only bind and execute them afterwards: PostgreSQL then skips parsing and
 * planning, about 40 % of its CPU per created run (1.67 -> 0.97 ms, test/bench/README.md).
 */
export function prepareStatements(conn: PgConnection): void {
  const query = conn.query.bind(conn);
  const prepared = new Set<string>();
  conn.query = (config: unknown, ...rest: unknown[]) => {
    const c = config as QueryConfig | null;
    if (c && typeof c === 'object' && typeof c.text === 'string' && !c.name && c.values?.length) {
      const name = statementName(c.text);
      if (name && (prepared.has(name) || prepared.size < PER_CONNECTION)) {
        prepared.add(name);
        return query({ ...c, name }, ...rest);
      }
    }
    return query(config, ...rest);
  };
}
