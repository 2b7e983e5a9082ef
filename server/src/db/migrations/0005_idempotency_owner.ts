import type { Knex } from 'knex';

// Which request holds an in-flight key: one that outlived its lock and was taken over must not
// store its response over the new holder's, nor release the new holder's claim.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('idempotency_keys', (t) => {
    t.string('owner', 32);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('idempotency_keys', (t) => {
    t.dropColumn('owner');
  });
}
