import type { Knex } from 'knex';

// Runs on threads, and their events. A thread runs one run at a time: the unique index admits one running or
// waiting run per thread, whatever races the claims make; the others queue behind it in order.
// A run's messages wait in `thread_messages` (JSON) until it starts. Deleting a thread keeps its
// runs, naming no thread.
export async function up(knex: Knex): Promise<void> {
  // Added by hand: knex rebuilds a SQLite table to add a column with a foreign key.
  await knex.raw('alter table runs add column thread_id varchar(64) references threads (id) on delete set null');
  await knex.schema.alterTable('runs', (t) => {
    t.text('thread_messages');
  });
  await knex.schema.alterTable('threads', (t) => {
    t.string('last_run_id', 64);
  });
  // A thread's stream reads its runs' events by the application's cursor.
  await knex.schema.alterTable('run_events', (t) => {
    t.string('thread_id', 64);
  });
  await knex.raw('create index run_events_thread on run_events (thread_id, cursor) where thread_id is not null');
  await knex.raw('create index runs_thread on runs (thread_id, created_at) where thread_id is not null');
  await knex.raw(`create unique index runs_thread_active on runs (thread_id) where thread_id is not null and status in ('running', 'waiting')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index run_events_thread');
  await knex.schema.alterTable('run_events', (t) => {
    t.dropColumn('thread_id');
  });
  await knex.raw('drop index runs_thread_active');
  await knex.raw('drop index runs_thread');
  await knex.schema.alterTable('threads', (t) => {
    t.dropColumn('last_run_id');
  });
  await knex.schema.alterTable('runs', (t) => {
    t.dropColumn('thread_messages');
    t.dropColumn('thread_id');
  });
}
