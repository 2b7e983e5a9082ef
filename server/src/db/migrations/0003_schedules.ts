import type { Knex } from 'knex';

const ts = (t: Knex.CreateTableBuilder, name: string) => t.string(name, 24);

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('schedules', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('agent_id', 64).notNullable().references('agents.id').onDelete('CASCADE');
    t.string('name', 200).notNullable();
    t.string('cron', 120).notNullable();
    t.string('timezone', 64).notNullable();
    t.text('input').notNullable();
    t.text('metadata').notNullable();
    t.string('status', 16).notNullable();
    t.string('missed_run_policy', 16).notNullable();
    ts(t, 'next_run_at');
    ts(t, 'last_run_at');
    t.string('last_run_id', 64);
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.index(['application_id', 'created_at']);
    t.index(['status', 'next_run_at']);
  });
  await knex.schema.alterTable('runs', (t) => {
    t.index(['triggered_by_type', 'triggered_by_id', 'created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.dropIndex(['triggered_by_type', 'triggered_by_id', 'created_at']);
  });
  await knex.schema.dropTableIfExists('schedules');
}
