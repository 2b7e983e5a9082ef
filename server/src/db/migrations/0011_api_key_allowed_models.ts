import type { Knex } from 'knex';

// The model aliases a key may call through the gateway, as a JSON array; null (every existing
// key) allows every alias.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (t) => {
    t.text('allowed_models');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (t) => {
    t.dropColumn('allowed_models');
  });
}
