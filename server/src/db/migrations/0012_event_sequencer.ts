import type { Knex } from 'knex';
import { dialectOf } from '../knex-internals.js';

// On PostgreSQL run events are inserted without a cursor and numbered after they commit by the
// event sequencer (docs/architecture.md, "The event log"); SQLite still numbers them in the
// writer's transaction, so its column stays required. The partial index is what a numbering pass
// reads, in the order it numbers.
export async function up(knex: Knex): Promise<void> {
  if (dialectOf(knex) !== 'pg') return;
  await knex.raw('alter table run_events alter column cursor drop not null');
  await knex.raw('create index run_events_unnumbered on run_events (run_id, seq) where cursor is null');
}

export async function down(knex: Knex): Promise<void> {
  if (dialectOf(knex) !== 'pg') return;
  await knex.raw('drop index run_events_unnumbered');
  await knex.raw('alter table run_events alter column cursor set not null');
}
