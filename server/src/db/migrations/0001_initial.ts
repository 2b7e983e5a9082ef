import type { Knex } from 'knex';

// Timestamps are ISO 8601 strings with milliseconds (UTC): they sort and compare the same on
// SQLite and PostgreSQL, and are what the API returns.
const ts = (t: Knex.CreateTableBuilder, name: string) => t.string(name, 24);

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('organizations', (t) => {
    t.string('id', 64).primary();
    t.string('name', 200).notNullable();
    t.string('api_version', 10).notNullable();
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
  });
  await knex.schema.createTable('applications', (t) => {
    t.string('id', 64).primary();
    t.string('organization_id', 64).notNullable().references('organizations.id').onDelete('CASCADE');
    t.string('name', 200).notNullable();
    t.string('description', 2000);
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.index(['organization_id', 'created_at']);
  });
  await knex.schema.createTable('api_keys', (t) => {
    t.string('id', 64).primary();
    t.string('organization_id', 64).notNullable().references('organizations.id').onDelete('CASCADE');
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('name', 200).notNullable();
    t.text('scopes').notNullable();
    t.string('prefix', 20).notNullable();
    t.string('secret_hash', 64).notNullable().unique();
    t.string('previous_secret_hash', 64).unique();
    ts(t, 'previous_secret_expires_at');
    ts(t, 'expires_at');
    ts(t, 'last_used_at');
    ts(t, 'revoked_at');
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.index(['application_id', 'created_at']);
  });
  await knex.schema.createTable('agents', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('name', 200).notNullable();
    t.string('description', 2000);
    t.text('instructions').notNullable();
    t.string('model', 200).notNullable();
    t.text('tools').notNullable();
    t.text('config').notNullable();
    t.string('runtime', 16).notNullable();
    t.string('url', 2000);
    t.text('labels').notNullable();
    t.integer('timeout_seconds').notNullable();
    t.integer('max_attempts').notNullable();
    t.integer('max_concurrent_runs');
    t.string('status', 16).notNullable();
    t.integer('version').notNullable();
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.index(['application_id', 'created_at']);
  });
  await knex.schema.createTable('agent_labels', (t) => {
    t.string('agent_id', 64).notNullable().references('agents.id').onDelete('CASCADE');
    t.string('label', 64).notNullable();
    t.primary(['agent_id', 'label']);
    t.index(['label']);
  });
  await knex.schema.createTable('agent_versions', (t) => {
    t.string('agent_id', 64).notNullable().references('agents.id').onDelete('CASCADE');
    t.integer('version').notNullable();
    t.text('instructions').notNullable();
    t.string('model', 200).notNullable();
    t.text('tools').notNullable();
    t.text('config').notNullable();
    ts(t, 'created_at').notNullable();
    t.primary(['agent_id', 'version']);
  });
  // The key is stored hashed and the response encrypted with a key derived from it: a stored
  // response can hold a secret shown once (a new API key), which only the original client may replay.
  await knex.schema.createTable('idempotency_keys', (t) => {
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('key_hash', 64).notNullable();
    t.string('fingerprint', 64).notNullable();
    t.string('state', 16).notNullable();
    t.integer('response_status');
    t.text('response_sealed');
    ts(t, 'locked_until');
    ts(t, 'expires_at').notNullable();
    ts(t, 'created_at').notNullable();
    t.primary(['application_id', 'key_hash']);
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['idempotency_keys', 'agent_versions', 'agent_labels', 'agents', 'api_keys', 'applications', 'organizations']) {
    await knex.schema.dropTableIfExists(table);
  }
}
