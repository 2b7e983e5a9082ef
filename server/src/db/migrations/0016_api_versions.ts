import type { Knex } from 'knex';

// Pinned API versions: an application key may pin its requests to one (null follows its
// organization's), and a webhook endpoint renders its payloads in one. The endpoints that exist
// were made when the first version was the only one, so they keep it.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (t) => {
    t.string('api_version', 10);
  });
  await knex.schema.alterTable('webhook_endpoints', (t) => {
    t.string('api_version', 10).notNullable().defaultTo('2026-11-01');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhook_endpoints', (t) => {
    t.dropColumn('api_version');
  });
  await knex.schema.alterTable('api_keys', (t) => {
    t.dropColumn('api_version');
  });
}
