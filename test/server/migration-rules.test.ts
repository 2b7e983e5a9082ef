import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrationRuleViolations, RULES_START_AFTER } from '../support/migration-rules.js';
import { REPO } from '../support/old-release.js';

const DIR = join(REPO, 'server/src/db/migrations');

describe('migration rules for rolling upgrades (deploy/UPGRADING.md)', () => {
  it('every migration after the rules began is additive, or the declared second step of a two-step removal', () => {
    const files = readdirSync(DIR).filter((f) => /^\d{4}_.+\.ts$/.test(f) && f.replace(/\.ts$/, '') > RULES_START_AFTER);
    expect(files.flatMap((f) => migrationRuleViolations(readFileSync(join(DIR, f), 'utf8'), f))).toEqual([]);
  });

  it('finds removals, renames, NOT NULL columns without a default and destructive SQL', () => {
    const bad = `
import type { Knex } from 'knex';
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.text('trace_context');
    t.integer('priority').notNullable().defaultTo(0);
    t.text('owner').notNullable();
    t.dropColumn('legacy');
    t.renameColumn('a', 'b');
  });
  await knex.schema.createTable('fresh', (t) => {
    t.text('id').notNullable().primary();
  });
  await knex.schema.dropTable('old_things');
  await knex.raw('ALTER TABLE runs ALTER COLUMN status SET NOT NULL');
}
export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('fresh');
}
`;
    expect(migrationRuleViolations(bad, 'bad.ts')).toEqual([
      "bad.ts:7: a column added NOT NULL without a default: the previous release's inserts leave it out",
      'bad.ts:8: dropColumn() removes or changes what the previous release uses; export `contract` in the second step of a two-step removal',
      'bad.ts:9: renameColumn() removes or changes what the previous release uses; export `contract` in the second step of a two-step removal',
      'bad.ts:14: dropTable() removes or changes what the previous release uses; export `contract` in the second step of a two-step removal',
      'bad.ts:15: raw SQL removes or changes what the previous release uses; export `contract` in the second step of a two-step removal',
    ]);
    // The second step of a two-step removal says why the release before no longer needs what it drops.
    const contract = `export const contract = 'runs.legacy: unused since 0.2.0, which stopped reading and writing it';
export async function up(knex) { await knex.schema.alterTable('runs', (t) => t.dropColumn('legacy')); }`;
    expect(migrationRuleViolations(contract)).toEqual([]);
  });

  it('the migrations before the rules would have broken a side-by-side upgrade: the check sees it', () => {
    const identity = readFileSync(join(DIR, '0013_identity.ts'), 'utf8');
    expect(migrationRuleViolations(identity, '0013_identity.ts').length).toBeGreaterThan(0);
  });
});
