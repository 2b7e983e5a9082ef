import type { Knex } from 'knex';

// Most runs are created through the API, long before anything leases or starts them: the columns
// that only a lease, a start or a schedule sets are indexed where they are set, so creating a run
// writes four indexes fewer. Every query on them compares the column with a value, which implies
// it is not null, so SQLite and PostgreSQL both still use these indexes.
const PARTIAL = [
  { name: 'runs_lease_id_unique', unique: true, columns: ['lease_id'], where: 'lease_id' },
  { name: 'runs_status_lease_expires_at_index', unique: false, columns: ['status', 'lease_expires_at'], where: 'lease_expires_at' },
  { name: 'runs_status_deadline_at_index', unique: false, columns: ['status', 'deadline_at'], where: 'deadline_at' },
  {
    name: 'runs_triggered_by_type_triggered_by_id_created_at_index',
    unique: false,
    columns: ['triggered_by_type', 'triggered_by_id', 'created_at'],
    where: 'triggered_by_id',
  },
];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.dropUnique(['lease_id']);
    t.dropIndex(['status', 'lease_expires_at']);
    t.dropIndex(['status', 'deadline_at']);
    t.dropIndex(['triggered_by_type', 'triggered_by_id', 'created_at']);
  });
  for (const index of PARTIAL) {
    await knex.raw(`create ${index.unique ? 'unique ' : ''}index ${index.name} on runs (${index.columns.join(', ')}) where ${index.where} is not null`);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const index of PARTIAL) await knex.raw(`drop index ${index.name}`);
  await knex.schema.alterTable('runs', (t) => {
    t.unique(['lease_id']);
    t.index(['status', 'lease_expires_at']);
    t.index(['status', 'deadline_at']);
    t.index(['triggered_by_type', 'triggered_by_id', 'created_at']);
  });
}
