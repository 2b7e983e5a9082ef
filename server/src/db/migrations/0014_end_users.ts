import type { Knex } from 'knex';

// End-users get a name, an email and metadata of their own; run events carry their run's end-user,
// so a stream acting for one end-user reads and passes only theirs (filled in for the events
// already stored).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('end_users', (t) => {
    t.string('name', 200);
    t.string('email', 254);
    t.string('email_normalized', 254);
    t.text('metadata').notNullable().defaultTo('{}');
    t.index(['application_id', 'created_at']);
    t.index(['application_id', 'email_normalized']);
  });
  await knex.schema.alterTable('run_events', (t) => {
    t.string('end_user_id', 64);
    t.index(['end_user_id', 'cursor']);
  });
  await knex.raw(
    `update run_events set end_user_id = (select runs.end_user_id from runs where runs.id = run_events.run_id)
     where run_id in (select id from runs where end_user_id is not null)`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('run_events', (t) => {
    t.dropIndex(['end_user_id', 'cursor']);
    t.dropColumn('end_user_id');
  });
  await knex.schema.alterTable('end_users', (t) => {
    t.dropIndex(['application_id', 'created_at']);
    t.dropIndex(['application_id', 'email_normalized']);
    t.dropColumn('name');
    t.dropColumn('email');
    t.dropColumn('email_normalized');
    t.dropColumn('metadata');
  });
}
