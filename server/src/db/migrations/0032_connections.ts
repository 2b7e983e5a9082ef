import type { Knex } from 'knex';

/**
 * Connections to external services: the providers enabled per application (integrations, with
 * their OAuth client's secret encrypted), the connections of the application, its people and its
 * end-users (credentials encrypted under a data key of their own, sealed by the master key), and
 * the connect links that make them. `live_key` is set while a connection is not revoked: one live
 * connection per integration and owner, on SQLite and PostgreSQL alike (NULLs never collide).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('integrations', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('provider_id', 64).notNullable();
    t.string('client_id', 500);
    t.text('client_secret_key_sealed');
    t.text('client_secret_encrypted');
    t.text('scopes').notNullable();
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.unique(['application_id', 'provider_id']);
    t.index(['application_id', 'created_at']);
  });
  await knex.schema.createTable('connections', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('integration_id', 64).notNullable().references('integrations.id').onDelete('CASCADE');
    t.string('provider_id', 64).notNullable();
    t.string('auth_type', 16).notNullable();
    t.string('owner_type', 16).notNullable();
    t.string('owner_id', 64);
    t.string('live_key', 200).unique();
    t.string('label', 200);
    t.string('status', 16).notNullable();
    t.string('status_reason', 500);
    t.text('scopes').notNullable();
    t.text('data_key_sealed');
    t.text('credentials_encrypted');
    t.integer('credentials_version').notNullable().defaultTo(0);
    t.string('expires_at', 30);
    t.string('last_refreshed_at', 30);
    t.string('last_used_at', 30);
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.index(['application_id', 'created_at']);
    t.index(['integration_id']);
  });
  await knex.schema.createTable('connect_sessions', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('integration_id', 64).notNullable().references('integrations.id').onDelete('CASCADE');
    t.string('owner_type', 16).notNullable();
    t.string('owner_id', 64);
    t.string('token_hash', 64).notNullable().unique();
    t.string('state_hash', 64).unique();
    t.text('verifier_sealed');
    t.string('redirect_url', 2000);
    t.string('status', 16).notNullable();
    t.string('expires_at', 30).notNullable();
    t.string('created_at', 30).notNullable();
    t.index(['expires_at']);
  });
  for (const table of ['agents', 'agent_versions']) {
    await knex.schema.alterTable(table, (t) => {
      t.text('connections').notNullable().defaultTo('[]');
    });
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['agents', 'agent_versions']) {
    await knex.schema.alterTable(table, (t) => {
      t.dropColumn('connections');
    });
  }
  await knex.schema.dropTable('connect_sessions');
  await knex.schema.dropTable('connections');
  await knex.schema.dropTable('integrations');
}
