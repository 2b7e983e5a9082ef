import type { Knex } from 'knex';

// Approvals: a run asking a person. A run waits on at most one (`runs.waiting_for`), holding no
// lease; `runs.resume` keeps how the wait ended for every claim until the run waits again or
// ends, and `timeout_left_ms` what was left of the attempt's timeout when it began to wait. The
// expiry sweeper finds pending approvals by the partial index; the inbox lists them by application.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('approvals', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('id').inTable('applications').onDelete('CASCADE');
    t.string('run_id', 64).notNullable().references('id').inTable('runs').onDelete('CASCADE');
    t.string('thread_id', 64).references('id').inTable('threads').onDelete('SET NULL');
    t.string('agent_id', 64).notNullable();
    t.string('end_user_id', 64);
    t.string('kind', 16).notNullable();
    t.string('title', 200).notNullable();
    t.text('summary');
    t.text('payload').notNullable();
    t.text('payload_schema');
    t.text('response_schema');
    t.text('assignees').notNullable();
    t.string('status', 24).notNullable();
    t.text('decision');
    t.string('expires_at', 30).notNullable();
    t.string('on_expire', 16).notNullable();
    t.string('resolved_at', 30);
    t.text('metadata').notNullable();
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.index(['application_id', 'created_at']);
    t.index(['application_id', 'status', 'expires_at']);
    t.index(['run_id']);
  });
  await knex.raw("create index approvals_expiry on approvals (expires_at) where status = 'pending'");
  await knex.schema.createTable('approval_comments', (t) => {
    t.string('id', 64).primary();
    t.string('approval_id', 64).notNullable().references('id').inTable('approvals').onDelete('CASCADE');
    t.text('body').notNullable();
    t.string('author_type', 16).notNullable();
    t.string('author_id', 64).notNullable();
    t.boolean('wake').notNullable();
    t.string('created_at', 30).notNullable();
    t.index(['approval_id', 'created_at']);
  });
  // The types approval.* are the server's from now on: what runners wrote under them is kept as the
  // versions before it read it (see versions/changes/waits-release-leases.ts).
  await knex('run_events')
    .where('type', 'like', 'approval.%')
    .update({ type: knex.raw("'run.legacy.' || type") });
  await knex.schema.alterTable('runs', (t) => {
    t.text('waiting_for');
    t.text('resume');
    t.bigInteger('timeout_left_ms');
  });
  // Counting an agent's runs that take capacity (running or waiting with a lease: a claim does it
  // for every queued candidate) reads only those, not the thousands that may wait on people.
  await knex.schema.alterTable('runs', (t) => {
    t.dropIndex(['agent_id', 'status']);
    t.index(['agent_id', 'status', 'lease_expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.dropIndex(['agent_id', 'status', 'lease_expires_at']);
    t.index(['agent_id', 'status']);
  });
  await knex('run_events')
    .where('type', 'like', 'run.legacy.approval.%')
    .update({ type: knex.raw('substr(type, 12)') });
  await knex.schema.alterTable('runs', (t) => {
    t.dropColumn('timeout_left_ms');
    t.dropColumn('resume');
    t.dropColumn('waiting_for');
  });
  await knex.schema.dropTable('approval_comments');
  await knex.schema.dropTable('approvals');
}
