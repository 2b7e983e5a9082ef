import type { Executor } from './database.js';
import { selectRows } from './statements.js';

/**
 * Whether `id` is `of` or one of its ancestors along `parent_id` in `table` (a table of ours, never
 * a client's string): then `of` cannot become `id`'s parent, as that would close a cycle.
 */
export async function isAncestorOrSelf(db: Executor, table: 'tasks' | 'goals', id: string, of: string): Promise<boolean> {
  const rows = await selectRows<{ id: string }>(
    db,
    `with recursive up (id, parent_id) as (
       select id, parent_id from ${table} where id = ?
       union select t.id, t.parent_id from ${table} t join up on t.id = up.parent_id)
     select id from up where id = ?`,
    [of, id],
  );
  return rows.length > 0;
}
