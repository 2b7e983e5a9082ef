import type { Knex } from 'knex';

/**
 * Secrets: named values per application, each version encrypted with its own data key (sealed by
 * the master key, so rotating it re-wraps keys, not values); who received which version, for
 * which run and lease; and the names agents (and their versions) reference.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('secrets', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('name', 64).notNullable();
    t.text('description');
    t.integer('current_version').notNullable();
    t.string('last_accessed_at', 30);
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.unique(['application_id', 'name']);
    t.index(['application_id', 'created_at']);
  });
  await knex.schema.createTable('secret_versions', (t) => {
    t.string('secret_id', 64).notNullable().references('secrets.id').onDelete('CASCADE');
    t.integer('version').notNullable();
    t.string('application_id', 64).notNullable();
    t.text('data_key_sealed').notNullable();
    t.text('value_encrypted').notNullable();
    t.string('created_at', 30).notNullable();
    t.primary(['secret_id', 'version']);
  });
  await knex.schema.createTable('secret_accesses', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable();
    t.string('secret_id', 64).notNullable().references('secrets.id').onDelete('CASCADE');
    t.integer('version').notNullable();
    t.string('run_id', 64).notNullable();
    t.string('lease_id', 64).notNullable();
    t.string('runner_id', 64).notNullable();
    t.string('purpose', 16).notNullable();
    t.string('created_at', 30).notNullable();
    t.index(['secret_id', 'created_at']);
    t.index(['run_id']);
  });
  for (const table of ['agents', 'agent_versions']) {
    await knex.schema.alterTable(table, (t) => {
      t.text('secrets').notNullable().defaultTo('[]');
    });
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['agents', 'agent_versions']) {
    await knex.schema.alterTable(table, (t) => {
      t.dropColumn('secrets');
    });
  }
  await knex.schema.dropTable('secret_accesses');
  await knex.schema.dropTable('secret_versions');
  await knex.schema.dropTable('secrets');
}
