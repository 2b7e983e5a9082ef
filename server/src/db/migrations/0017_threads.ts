import type { Knex } from 'knex';

// Threads and their messages. `message_count` is the seq of the last message: an append reserves
// its numbers by incrementing it (the row's lock orders concurrent appends), so messages are
// numbered without gaps. Deleting an agent or an end-user keeps their threads, naming no one.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('threads', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('id').inTable('applications').onDelete('CASCADE');
    t.string('agent_id', 64).references('id').inTable('agents').onDelete('SET NULL');
    t.string('end_user_id', 64).references('id').inTable('end_users').onDelete('SET NULL');
    t.string('title', 200);
    t.text('metadata').notNullable();
    t.text('state').notNullable();
    t.bigInteger('state_version').notNullable().defaultTo(0);
    t.bigInteger('message_count').notNullable().defaultTo(0);
    t.string('last_message_at', 30);
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.index(['application_id', 'created_at']);
    t.index(['application_id', 'updated_at']);
    t.index(['application_id', 'agent_id']);
    t.index(['application_id', 'end_user_id']);
  });
  await knex.schema.createTable('thread_messages', (t) => {
    t.string('id', 64).primary();
    t.string('thread_id', 64).notNullable().references('id').inTable('threads').onDelete('CASCADE');
    t.bigInteger('seq').notNullable();
    t.string('role', 16).notNullable();
    t.text('content').notNullable();
    t.string('run_id', 64);
    t.text('metadata').notNullable();
    t.string('created_at', 30).notNullable();
    t.unique(['thread_id', 'seq']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('thread_messages');
  await knex.schema.dropTable('threads');
}
