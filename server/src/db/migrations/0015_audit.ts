import type { Knex } from 'knex';

// The audit log: one row per change made through the API (or refused attempt), written in the
// change's transaction without its place in the chain; the chainer gives each its position and
// hashes after it commits (resources/audit/chainer.ts). Rows have no foreign keys: the trail
// outlives what it describes. `audit_chains` is each organization's head, and how much of its
// start retention has pruned.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (t) => {
    t.string('id', 30).primary();
    t.string('organization_id', 64).notNullable();
    t.string('application_id', 64);
    t.bigInteger('position');
    t.string('action', 64).notNullable();
    t.string('outcome', 16).notNullable();
    t.integer('status').notNullable();
    t.string('actor_type', 32).notNullable();
    t.string('actor_id', 64);
    t.string('actor_user_id', 64);
    t.string('end_user_id', 64);
    t.string('resource_type', 64).notNullable();
    t.string('resource_id', 255);
    t.string('run_id', 64);
    t.string('request_id', 64).notNullable();
    t.string('operation_id', 64);
    t.string('method', 10);
    t.string('path', 2048);
    t.string('idempotency_key', 255);
    t.string('api_version', 10);
    t.string('ip', 64);
    t.string('user_agent', 512);
    t.text('before');
    t.text('after');
    t.string('created_at', 30).notNullable();
    t.string('prev_hash', 64);
    t.string('hash', 64);
    t.unique(['organization_id', 'position']);
    t.index(['organization_id', 'created_at']);
  });
  // The chainer's queue: only rows not chained yet are in it.
  await knex.raw('create index audit_events_unchained on audit_events (created_at, id) where position is null');
  // Without the position: placing an event then rewrites two index entries, not seven; the events of
  // one resource, run or actor are few enough to sort.
  for (const column of ['resource_id', 'actor_id', 'actor_user_id', 'run_id', 'end_user_id']) {
    await knex.raw(`create index audit_events_${column} on audit_events (organization_id, ${column}) where ${column} is not null`);
  }
  await knex.schema.createTable('audit_chains', (t) => {
    t.string('organization_id', 64).primary();
    t.bigInteger('position').notNullable();
    t.string('hash', 64).notNullable();
    t.bigInteger('pruned_through').notNullable().defaultTo(0);
    t.string('pruned_hash', 64);
    t.string('updated_at', 30).notNullable();
  });
  await knex.schema.alterTable('organizations', (t) => {
    t.integer('audit_retention_days').notNullable().defaultTo(365);
  });
  // Exports: the job, and its file in gzip parts (any replica serves the download; none holds it whole).
  await knex.schema.createTable('audit_exports', (t) => {
    t.string('id', 33).primary();
    t.string('organization_id', 64).notNullable();
    t.string('status', 16).notNullable();
    t.string('format', 8).notNullable();
    t.text('filters').notNullable();
    t.bigInteger('through_position');
    t.bigInteger('row_count');
    t.bigInteger('bytes');
    t.string('sha256', 64);
    t.string('error', 500);
    t.string('claim_expires_at', 30);
    t.string('expires_at', 30);
    t.string('created_at', 30).notNullable();
    t.string('completed_at', 30);
    t.index(['status', 'created_at']);
    t.index(['organization_id', 'created_at']);
  });
  await knex.schema.createTable('audit_export_parts', (t) => {
    t.string('export_id', 33).notNullable();
    t.integer('part').notNullable();
    t.binary('data').notNullable();
    t.primary(['export_id', 'part']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_export_parts');
  await knex.schema.dropTable('audit_exports');
  await knex.schema.alterTable('organizations', (t) => {
    t.dropColumn('audit_retention_days');
  });
  await knex.schema.dropTable('audit_chains');
  await knex.schema.dropTable('audit_events');
}
