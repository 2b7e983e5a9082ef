import type { Knex } from 'knex';

/**
 * The refresh sweeper's claim on a connection: until `refresh_claimed_until` no other replica
 * refreshes it ahead of expiry (and this one not again, whatever the outcome). The index serves
 * the sweeper's look for active oauth2 connections by expiry.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('connections', (t) => {
    t.string('refresh_claimed_until', 30);
    t.index(['auth_type', 'status', 'expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('connections', (t) => {
    t.dropIndex(['auth_type', 'status', 'expires_at']);
    t.dropColumn('refresh_claimed_until');
  });
}
