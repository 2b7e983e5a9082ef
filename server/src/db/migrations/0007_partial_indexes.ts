import type { Knex } from 'knex';

// Most runs are created through the API, long before anything leases or starts them, and most
// events are the server's own: columns that only a lease, a start, a schedule or trigger, or a
// runner's append sets are indexed where they are set, so creating a run through the API writes
// five indexes fewer (four for a scheduled or triggered run). Every query on them compares the
// column with values, which implies it is not null, so SQLite and PostgreSQL both still use these
// indexes; NULLs never collided in the unique ones either. On PostgreSQL the new indexes are built
// inside the migration's transaction, so writes to runs wait while they build.
const PARTIAL = [
  { table: 'runs', name: 'runs_lease_id_unique', unique: true, columns: ['lease_id'], where: 'lease_id' },
  { table: 'runs', name: 'runs_status_lease_expires_at_index', unique: false, columns: ['status', 'lease_expires_at'], where: 'lease_expires_at' },
  { table: 'runs', name: 'runs_status_deadline_at_index', unique: false, columns: ['status', 'deadline_at'], where: 'deadline_at' },
  {
    table: 'runs',
    name: 'runs_triggered_by_type_triggered_by_id_created_at_index',
    unique: false,
    columns: ['triggered_by_type', 'triggered_by_id', 'created_at'],
    where: 'triggered_by_id',
  },
  { table: 'run_events', name: 'run_events_run_id_attempt_runner_seq_unique', unique: true, columns: ['run_id', 'attempt', 'runner_seq'], where: 'runner_seq' },
];

// Each replaces the full index of the same name and columns that knex made for it.
export async function up(knex: Knex): Promise<void> {
  for (const index of PARTIAL) {
    await knex.schema.alterTable(index.table, (t) => (index.unique ? t.dropUnique(index.columns) : t.dropIndex(index.columns)));
    await knex.raw(
      `create ${index.unique ? 'unique ' : ''}index ${index.name} on ${index.table} (${index.columns.join(', ')}) where ${index.where} is not null`,
    );
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const index of PARTIAL) {
    await knex.raw(`drop index ${index.name}`);
    await knex.schema.alterTable(index.table, (t) => (index.unique ? t.unique(index.columns) : t.index(index.columns)));
  }
}
