import type { Knex } from 'knex';

/**
 * The trace a run belongs to, as a W3C `traceparent` (observability/tracing.ts): its claim, its
 * runner's calls and its `run` span join the trace of the request that created it. Null when
 * tracing was off at its creation.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.string('trace_context', 55);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.dropColumn('trace_context');
  });
}
