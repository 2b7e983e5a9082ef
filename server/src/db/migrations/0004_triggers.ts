import type { Knex } from 'knex';

const ts = (t: Knex.CreateTableBuilder, name: string) => t.string(name, 24);

export async function up(knex: Knex): Promise<void> {
  // A signature secret must be read back to verify calls, so it is sealed with the master key;
  // a token only needs comparing, so only its hash is kept.
  await knex.schema.createTable('triggers', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('agent_id', 64).notNullable().references('agents.id').onDelete('CASCADE');
    t.string('name', 200).notNullable();
    t.string('status', 16).notNullable();
    t.string('authentication', 16).notNullable();
    t.text('input_mapping');
    t.text('secret_sealed');
    t.string('token_hash', 64).unique();
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.index(['application_id', 'created_at']);
  });
  // One row per webhook-id: a repeated delivery finds it and starts nothing.
  await knex.schema.createTable('trigger_invocations', (t) => {
    t.string('trigger_id', 64).notNullable().references('triggers.id').onDelete('CASCADE');
    t.string('webhook_id', 255).notNullable();
    t.string('run_id', 64);
    ts(t, 'created_at').notNullable();
    t.primary(['trigger_id', 'webhook_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('trigger_invocations');
  await knex.schema.dropTableIfExists('triggers');
}
