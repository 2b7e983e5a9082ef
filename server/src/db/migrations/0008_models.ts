import type { Knex } from 'knex';

const ts = (t: Knex.CreateTableBuilder, name: string) => t.string(name, 24);

export async function up(knex: Knex): Promise<void> {
  // A provider's credential is sealed (the gateway must send it); only its last four characters
  // are kept readable, so people can tell keys apart.
  await knex.schema.createTable('model_providers', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('name', 200).notNullable();
    t.string('kind', 32).notNullable();
    t.string('base_url', 2000).notNullable();
    t.text('credential_sealed');
    t.string('credential_last4', 4);
    t.text('headers').notNullable();
    t.integer('timeout_seconds').notNullable();
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.unique(['application_id', 'name']);
    t.index(['application_id', 'created_at']);
  });
  await knex.schema.createTable('models', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('alias', 200).notNullable();
    // No cascade: a provider in use cannot be deleted (409 naming its aliases).
    t.string('provider_id', 64).notNullable().references('model_providers.id');
    t.string('upstream_model', 200).notNullable();
    t.string('api', 16).notNullable();
    t.text('pricing').notNullable();
    t.integer('context_window');
    t.integer('max_output_tokens');
    t.text('fallbacks').notNullable();
    t.text('retry').notNullable();
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.unique(['application_id', 'alias']);
    t.index(['application_id', 'created_at']);
    t.index(['provider_id']);
  });
  // One row per gateway call (or transcription), written once: the request id is unique, so a
  // retried write records nothing twice. cost_micros is null when the call could not be priced.
  await knex.schema.createTable('usage_events', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('request_id', 64).notNullable().unique();
    t.string('source', 32).notNullable();
    t.string('key_id', 64);
    t.string('run_id', 64);
    t.string('agent_id', 64);
    t.integer('agent_version');
    t.string('end_user_id', 64);
    t.string('model_id', 64);
    t.string('alias', 200).notNullable();
    t.string('provider_id', 64);
    t.string('upstream_model', 200);
    t.string('api', 16).notNullable();
    t.string('outcome', 16).notNullable();
    t.boolean('streamed').notNullable();
    t.boolean('usage_reported').notNullable();
    t.bigInteger('input_tokens');
    t.bigInteger('output_tokens');
    t.bigInteger('cached_input_tokens');
    t.double('audio_seconds');
    t.bigInteger('cost_micros');
    t.integer('attempts').notNullable();
    t.integer('fallbacks_used').notNullable();
    t.integer('latency_ms').notNullable();
    t.integer('first_byte_ms');
    t.integer('upstream_status');
    t.string('error_code', 64);
    ts(t, 'created_at').notNullable();
    t.index(['application_id', 'created_at']);
    t.index(['run_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('usage_events');
  await knex.schema.dropTable('models');
  await knex.schema.dropTable('model_providers');
}
