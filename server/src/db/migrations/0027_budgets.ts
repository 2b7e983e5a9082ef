import type { Knex } from 'knex';

/**
 * Budgets, each window's spending and reservations (counters kept with the ledger, so a
 * reservation is one locked row, not a sum over the ledger), and what calls and runs reserve.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('budgets', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('name', 200).notNullable();
    t.string('scope_type', 16).notNullable();
    t.string('scope_id', 64);
    t.string('window', 8).notNullable();
    t.bigInteger('amount_micros').notNullable();
    t.text('thresholds').notNullable();
    t.bigInteger('run_reservation_micros').notNullable();
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.index(['application_id', 'scope_type', 'scope_id']);
    t.index(['application_id', 'created_at']);
  });
  await knex.schema.createTable('budget_windows', (t) => {
    t.string('budget_id', 64).notNullable().references('budgets.id').onDelete('CASCADE');
    t.string('window_key', 16).notNullable();
    t.bigInteger('spent_micros').notNullable();
    t.bigInteger('reserved_micros').notNullable();
    t.integer('threshold_percent').notNullable();
    t.boolean('exhausted').notNullable();
    t.primary(['budget_id', 'window_key']);
  });
  await knex.schema.createTable('budget_reservations', (t) => {
    t.string('budget_id', 64).notNullable().references('budgets.id').onDelete('CASCADE');
    t.string('holder', 240).notNullable();
    t.string('window_key', 16).notNullable();
    t.bigInteger('amount_micros').notNullable();
    t.string('expires_at', 30).notNullable();
    t.primary(['budget_id', 'holder']);
    t.index(['holder']);
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('budget_reservations');
  await knex.schema.dropTable('budget_windows');
  await knex.schema.dropTable('budgets');
}
