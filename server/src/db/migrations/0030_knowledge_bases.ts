import type { Knex } from 'knex';

/** Knowledge bases of the application, each with how it cuts its documents into chunks. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('knowledge_bases', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('name', 200).notNullable();
    t.text('description');
    t.integer('max_tokens').notNullable();
    t.integer('overlap_tokens').notNullable();
    t.text('metadata').notNullable();
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.index(['application_id', 'created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('knowledge_bases');
}
