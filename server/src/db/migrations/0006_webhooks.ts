import type { Knex } from 'knex';

const ts = (t: Knex.CreateTableBuilder, name: string) => t.string(name, 24);

export async function up(knex: Knex): Promise<void> {
  // An endpoint is enabled exactly when it has no disabled_reason. Its secrets are sealed: every
  // delivery is signed with them, so they must be read back.
  await knex.schema.createTable('webhook_endpoints', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('url', 2000).notNullable();
    t.string('description', 500);
    t.text('event_types').notNullable();
    t.string('disabled_reason', 16);
    t.text('secret_sealed').notNullable();
    t.text('previous_secret_sealed');
    ts(t, 'previous_secret_expires_at');
    ts(t, 'failing_since');
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.index(['application_id', 'created_at']);
  });
  // The outbox: one message per event and endpoint, written in the transaction of the change.
  await knex.schema.createTable('webhook_messages', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('endpoint_id', 64).notNullable().references('webhook_endpoints.id').onDelete('CASCADE');
    t.string('event_id', 64).notNullable();
    t.string('event_type', 64).notNullable();
    t.text('payload').notNullable();
    t.string('status', 16).notNullable();
    t.integer('attempts').notNullable();
    // Position in the retry schedule; a redelivery starts the schedule again.
    t.integer('schedule_step').notNullable();
    ts(t, 'next_attempt_at');
    // A delivery in progress holds the message until then; a crashed worker's claim runs out.
    ts(t, 'locked_until');
    ts(t, 'last_attempt_at');
    t.integer('last_status_code');
    t.string('last_error', 500);
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.index(['status', 'next_attempt_at']);
    t.index(['endpoint_id', 'created_at']);
  });
  await knex.schema.createTable('webhook_attempts', (t) => {
    t.string('id', 64).primary();
    t.string('message_id', 64).notNullable().references('webhook_messages.id').onDelete('CASCADE');
    t.string('endpoint_id', 64).notNullable();
    t.integer('attempt').notNullable();
    t.string('url', 2000).notNullable();
    t.integer('status_code');
    t.integer('duration_ms').notNullable();
    t.string('error', 500);
    t.string('response_body', 1024);
    ts(t, 'created_at').notNullable();
    t.index(['message_id', 'created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('webhook_attempts');
  await knex.schema.dropTableIfExists('webhook_messages');
  await knex.schema.dropTableIfExists('webhook_endpoints');
}
