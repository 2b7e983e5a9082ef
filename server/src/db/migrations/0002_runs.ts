import type { Knex } from 'knex';

const ts = (t: Knex.CreateTableBuilder, name: string) => t.string(name, 24);

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('end_users', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('external_id', 255).notNullable();
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.unique(['application_id', 'external_id']);
  });
  await knex.schema.createTable('runners', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('name', 200).notNullable();
    t.text('labels').notNullable();
    t.string('token_hash', 64).notNullable().unique();
    ts(t, 'last_seen_at');
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.index(['application_id', 'created_at']);
  });
  // A run carries its current lease: one runner at a time, identified by the fencing token.
  await knex.schema.createTable('runs', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('agent_id', 64).notNullable().references('agents.id').onDelete('CASCADE');
    t.integer('agent_version').notNullable();
    t.text('input').notNullable();
    t.text('output');
    t.string('error_code', 64);
    t.string('error_message', 2000);
    t.string('status', 16).notNullable();
    t.text('required_action');
    t.string('triggered_by_type', 16).notNullable();
    t.string('triggered_by_id', 64);
    t.string('end_user_id', 64).references('end_users.id').onDelete('SET NULL');
    t.integer('attempt').notNullable();
    t.bigInteger('usage_input_tokens').notNullable();
    t.bigInteger('usage_output_tokens').notNullable();
    t.bigInteger('cost_micros').notNullable();
    t.text('metadata').notNullable();
    ts(t, 'queued_at').notNullable();
    ts(t, 'started_at');
    ts(t, 'finished_at');
    ts(t, 'expires_at').notNullable();
    // Set when a runner starts it: startedAt + the agent's timeoutSeconds.
    ts(t, 'deadline_at');
    t.bigInteger('fencing_token').notNullable();
    t.string('lease_id', 64).unique();
    t.string('lease_runner_id', 64);
    ts(t, 'lease_expires_at');
    ts(t, 'lease_created_at');
    ts(t, 'lease_updated_at');
    t.bigInteger('last_seq').notNullable();
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.index(['application_id', 'created_at']);
    t.index(['status', 'queued_at']);
    t.index(['status', 'lease_expires_at']);
    t.index(['status', 'deadline_at']);
    t.index(['status', 'expires_at']);
    t.index(['agent_id', 'status']);
  });
  await knex.schema.createTable('run_events', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('run_id', 64).notNullable().references('runs.id').onDelete('CASCADE');
    t.string('agent_id', 64).notNullable();
    t.bigInteger('seq').notNullable();
    t.bigInteger('cursor').notNullable();
    t.string('type', 64).notNullable();
    t.text('data').notNullable();
    t.integer('attempt').notNullable();
    t.bigInteger('runner_seq');
    ts(t, 'created_at').notNullable();
    t.unique(['run_id', 'seq']);
    t.unique(['application_id', 'cursor']);
    t.unique(['run_id', 'attempt', 'runner_seq']);
  });
  // Cursors are handed out under a per-application row lock, so they are committed in order:
  // a stream that resumes after cursor N can never miss an event below N committed later.
  await knex.schema.createTable('event_cursors', (t) => {
    t.string('application_id', 64).primary().references('applications.id').onDelete('CASCADE');
    t.bigInteger('last_cursor').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['event_cursors', 'run_events', 'runs', 'runners', 'end_users']) await knex.schema.dropTableIfExists(table);
}
