import type { Knex } from 'knex';

/**
 * Agents get an input schema (versioned), a `stable` channel pointer and the installation that
 * manages them; installations hold where an installed agent comes from and the editor's inputs.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agents', (t) => {
    t.text('input_schema');
    t.integer('stable_version');
    t.string('installation_id', 64);
  });
  await knex.schema.alterTable('agent_versions', (t) => {
    t.text('input_schema');
  });
  await knex.schema.createTable('installations', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('agent_id', 64).notNullable().unique();
    t.string('package_name', 200).notNullable();
    t.string('package_digest', 80).notNullable();
    // The package installed, whole: its model comes back when an override is cleared.
    t.text('package').notNullable();
    // No foreign key: the source may be deleted; the installed agent keeps what it has.
    t.string('source_agent_id', 64);
    t.string('source_application_id', 64);
    t.integer('source_version');
    t.string('channel', 16);
    t.integer('pinned_version');
    t.string('model', 200);
    t.text('input_defaults').notNullable();
    t.text('locked_inputs').notNullable();
    t.text('sync_error');
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.index(['application_id', 'created_at']);
    t.index(['source_agent_id', 'channel']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('installations');
  await knex.schema.alterTable('agent_versions', (t) => {
    t.dropColumn('input_schema');
  });
  await knex.schema.alterTable('agents', (t) => {
    t.dropColumn('installation_id');
    t.dropColumn('stable_version');
    t.dropColumn('input_schema');
  });
}
