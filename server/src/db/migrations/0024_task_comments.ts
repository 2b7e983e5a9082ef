import type { Knex } from 'knex';

// Comments on tasks, read oldest first, and when tasks start runs of an agent on their own.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('task_comments', (t) => {
    t.string('id', 64).primary();
    t.string('task_id', 64).notNullable().references('id').inTable('tasks').onDelete('CASCADE');
    t.text('body').notNullable();
    t.string('author_type', 16).notNullable();
    t.string('author_id', 64).notNullable();
    t.text('mentions').notNullable();
    t.text('started_run_ids').notNullable();
    t.string('created_at', 30).notNullable();
    t.index(['task_id', 'created_at']);
  });
  await knex.schema.alterTable('agents', (t) => {
    t.text('auto_start').notNullable().defaultTo('{"assigned":false,"mentioned":false}');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agents', (t) => {
    t.dropColumn('auto_start');
  });
  await knex.schema.dropTable('task_comments');
}
