import type { Knex } from 'knex';

/**
 * Budgets that park a run instead of refusing it (`on_exhausted` `wait`), and the override a
 * person grants by approving the wait: a run's reservation row marked `override` lets the run's
 * calls past that budget. Pending budget waits are found by kind and status.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('budgets', (t) => {
    t.string('on_exhausted', 8).notNullable().defaultTo('reject');
  });
  await knex.schema.alterTable('budget_reservations', (t) => {
    t.boolean('override').notNullable().defaultTo(false);
  });
  await knex.schema.alterTable('approvals', (t) => {
    t.index(['kind', 'status']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('approvals', (t) => {
    t.dropIndex(['kind', 'status']);
  });
  await knex.schema.alterTable('budget_reservations', (t) => {
    t.dropColumn('override');
  });
  await knex.schema.alterTable('budgets', (t) => {
    t.dropColumn('on_exhausted');
  });
}
