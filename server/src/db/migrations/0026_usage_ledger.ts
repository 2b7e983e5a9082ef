import type { Knex } from 'knex';
import { dialectOf } from '../knex-internals.js';

/**
 * The usage ledger's attribution (thread, task and its project and goal, the person) and its
 * pricing status; who started each run (a key or a person), which its usage is attributed to; and
 * the audit exports' table made the home of every file export (audit events, costs).
 */
export async function up(knex: Knex): Promise<void> {
  const pg = dialectOf(knex) === 'pg';
  await knex.schema.alterTable('usage_events', (t) => {
    t.string('thread_id', 64);
    t.string('task_id', 64);
    t.string('project_id', 64);
    t.string('goal_id', 64);
    t.string('user_id', 64);
    t.string('provider', 64);
    t.string('pricing_status', 16).notNullable().defaultTo('priced');
  });
  await knex('usage_events')
    .whereNull('cost_micros')
    .update({ pricing_status: knex.raw("case when usage_reported then 'unpriced' else 'unreported' end") });
  // A run's own report is keyed by the run's id and its own request id, up to 128 characters.
  if (pg) await knex.raw('alter table usage_events alter column request_id type varchar(200)');
  await knex.schema.alterTable('runs', (t) => {
    t.string('created_by_key_id', 64);
    t.string('created_by_user_id', 64);
  });

  await knex.schema.renameTable('audit_exports', 'file_exports');
  await knex.schema.renameTable('audit_export_parts', 'file_export_parts');
  await knex.schema.alterTable('file_exports', (t) => {
    t.string('kind', 16).notNullable().defaultTo('audit');
    t.string('application_id', 64);
    t.index(['application_id', 'created_at']);
  });
  if (pg) {
    await knex.raw('alter table file_exports alter column id type varchar(64)');
    await knex.raw('alter table file_export_parts alter column export_id type varchar(64)');
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('file_exports', (t) => {
    t.dropIndex(['application_id', 'created_at']);
    t.dropColumn('application_id');
    t.dropColumn('kind');
  });
  await knex.schema.renameTable('file_export_parts', 'audit_export_parts');
  await knex.schema.renameTable('file_exports', 'audit_exports');
  await knex.schema.alterTable('runs', (t) => {
    t.dropColumn('created_by_user_id');
    t.dropColumn('created_by_key_id');
  });
  await knex.schema.alterTable('usage_events', (t) => {
    for (const column of ['thread_id', 'task_id', 'project_id', 'goal_id', 'user_id', 'provider', 'pricing_status']) t.dropColumn(column);
  });
}
