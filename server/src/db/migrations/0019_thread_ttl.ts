import type { Knex } from 'knex';

// A thread's time to live: it expires `ttl_seconds` after its last activity (`expires_at`, moved
// on by each change); the sweeper finds expired threads by the partial index.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('threads', (t) => {
    t.integer('ttl_seconds');
    t.string('expires_at', 30);
  });
  await knex.raw('create index threads_expiry on threads (expires_at) where expires_at is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index threads_expiry');
  await knex.schema.alterTable('threads', (t) => {
    t.dropColumn('expires_at');
    t.dropColumn('ttl_seconds');
  });
}
