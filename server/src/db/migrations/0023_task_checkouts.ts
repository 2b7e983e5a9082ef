import type { Knex } from 'knex';

// A task's checkout: the run working on it and the fencing token of the lease it checked out
// under. Runs that end or lose their lease release theirs (by checkout_run_id).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tasks', (t) => {
    t.string('checkout_run_id', 64);
    t.bigInteger('checkout_fencing');
    t.string('checked_out_at', 30);
    t.index(['checkout_run_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tasks', (t) => {
    t.dropIndex(['checkout_run_id']);
    t.dropColumn('checked_out_at');
    t.dropColumn('checkout_fencing');
    t.dropColumn('checkout_run_id');
  });
}
