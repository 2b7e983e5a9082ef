import type { Knex } from 'knex';

// Goals (a tree, by parent_id) and projects (towards a goal); tasks link to either. Deleting one
// unlinks what pointed at it (the foreign keys set null).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('goals', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('id').inTable('applications').onDelete('CASCADE');
    t.string('title', 200).notNullable();
    t.text('description');
    t.string('status', 16).notNullable();
    t.string('owner_type', 8);
    t.string('owner_id', 64);
    t.string('parent_id', 64).references('id').inTable('goals').onDelete('SET NULL');
    t.string('target_date', 10);
    t.text('metadata').notNullable();
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.index(['application_id', 'created_at']);
    t.index(['parent_id']);
  });
  await knex.schema.createTable('projects', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('id').inTable('applications').onDelete('CASCADE');
    t.string('name', 200).notNullable();
    t.text('description');
    t.string('status', 16).notNullable();
    t.string('lead_type', 8);
    t.string('lead_id', 64);
    t.string('goal_id', 64).references('id').inTable('goals').onDelete('SET NULL');
    t.string('target_date', 10);
    t.text('metadata').notNullable();
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.index(['application_id', 'created_at']);
    t.index(['goal_id']);
  });
  // Plain ALTER TABLE: knex would rebuild a SQLite table to add a foreign key, dropping the
  // triggers that keep the tasks' full-text index.
  await knex.raw('alter table tasks add column project_id varchar(64) references projects (id) on delete set null');
  await knex.raw('alter table tasks add column goal_id varchar(64) references goals (id) on delete set null');
  await knex.schema.alterTable('tasks', (t) => {
    t.index(['project_id']);
    t.index(['goal_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tasks', (t) => {
    t.dropIndex(['goal_id']);
    t.dropIndex(['project_id']);
  });
  await knex.raw('alter table tasks drop column goal_id');
  await knex.raw('alter table tasks drop column project_id');
  await knex.schema.dropTable('projects');
  await knex.schema.dropTable('goals');
}
