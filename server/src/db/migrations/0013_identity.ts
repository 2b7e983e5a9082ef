import type { Knex } from 'knex';
import { dialectOf } from '../knex-internals.js';

const ts = (t: Knex.CreateTableBuilder, name: string) => t.string(name, 24);

// People: users with their memberships of organizations, cookie sessions, personal tokens and
// invitations. Secrets (session tokens, CSRF tokens, personal tokens, invitation tokens) are stored
// only as SHA-256 hashes, passwords only as scrypt hashes.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.string('id', 64).primary();
    t.string('email', 254).notNullable();
    // Lower-cased: one account per address whatever its case.
    t.string('email_normalized', 254).notNullable().unique();
    t.string('name', 200).notNullable();
    t.string('password_hash', 200).notNullable();
    ts(t, 'disabled_at');
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
  });
  await knex.schema.createTable('memberships', (t) => {
    t.string('organization_id', 64).notNullable().references('organizations.id').onDelete('CASCADE');
    t.string('user_id', 64).notNullable().references('users.id').onDelete('CASCADE');
    t.string('role', 16).notNullable();
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.primary(['organization_id', 'user_id']);
    t.index(['user_id']);
  });
  await knex.schema.createTable('sessions', (t) => {
    t.string('id', 64).primary();
    t.string('user_id', 64).notNullable().references('users.id').onDelete('CASCADE');
    t.string('token_hash', 64).notNullable().unique();
    t.string('csrf_hash', 64).notNullable();
    t.string('ip', 64);
    t.string('user_agent', 500);
    ts(t, 'last_seen_at').notNullable();
    ts(t, 'idle_expires_at').notNullable();
    ts(t, 'absolute_expires_at').notNullable();
    ts(t, 'revoked_at');
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.index(['user_id', 'created_at']);
  });
  await knex.schema.createTable('personal_tokens', (t) => {
    t.string('id', 64).primary();
    t.string('user_id', 64).notNullable().references('users.id').onDelete('CASCADE');
    t.string('organization_id', 64).notNullable().references('organizations.id').onDelete('CASCADE');
    t.string('name', 200).notNullable();
    t.text('scopes').notNullable();
    t.string('prefix', 20).notNullable();
    t.string('secret_hash', 64).notNullable().unique();
    ts(t, 'expires_at').notNullable();
    ts(t, 'last_used_at');
    t.string('last_used_ip', 64);
    ts(t, 'revoked_at');
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.index(['user_id', 'created_at']);
    t.index(['organization_id', 'user_id']);
  });
  await knex.schema.createTable('invitations', (t) => {
    t.string('id', 64).primary();
    t.string('organization_id', 64).notNullable().references('organizations.id').onDelete('CASCADE');
    t.string('email', 254).notNullable();
    t.string('email_normalized', 254).notNullable();
    t.string('role', 16).notNullable();
    t.string('token_hash', 64).notNullable().unique();
    t.string('invited_by_type', 16).notNullable();
    t.string('invited_by_id', 64).notNullable();
    ts(t, 'expires_at').notNullable();
    ts(t, 'accepted_at');
    t.string('accepted_by', 64);
    ts(t, 'revoked_at');
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.index(['organization_id', 'created_at']);
    t.index(['organization_id', 'email_normalized']);
  });
  await scopeIdempotencyKeys(knex);
}

/**
 * Idempotency keys were kept per application; a person's requests are kept per person (and per
 * organization-level operation, where no application is named), so the column becomes a free
 * scope string without the foreign key to applications. Expired records are swept as before.
 */
async function scopeIdempotencyKeys(knex: Knex): Promise<void> {
  if (dialectOf(knex) === 'pg') {
    await knex.raw('alter table idempotency_keys drop constraint if exists idempotency_keys_application_id_foreign');
    await knex.raw('alter table idempotency_keys rename column application_id to scope');
    await knex.raw('alter table idempotency_keys alter column scope type varchar(100)');
    return;
  }
  // SQLite cannot drop a foreign key: the table is rebuilt (nothing references it).
  await knex.schema.createTable('idempotency_keys_scoped', (t) => {
    t.string('scope', 100).notNullable();
    t.string('key_hash', 64).notNullable();
    t.string('fingerprint', 64).notNullable();
    t.string('state', 16).notNullable();
    t.integer('response_status');
    t.text('response_sealed');
    ts(t, 'locked_until');
    ts(t, 'expires_at').notNullable();
    ts(t, 'created_at').notNullable();
    t.string('owner', 32);
    t.primary(['scope', 'key_hash']);
  });
  await knex.raw(
    `insert into idempotency_keys_scoped (scope, key_hash, fingerprint, state, response_status, response_sealed, locked_until, expires_at, created_at, owner)
     select application_id, key_hash, fingerprint, state, response_status, response_sealed, locked_until, expires_at, created_at, owner from idempotency_keys`,
  );
  await knex.schema.dropTable('idempotency_keys');
  await knex.schema.renameTable('idempotency_keys_scoped', 'idempotency_keys');
  await knex.schema.alterTable('idempotency_keys', (t) => {
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['invitations', 'personal_tokens', 'sessions', 'memberships', 'users']) await knex.schema.dropTableIfExists(table);
}
