import type { Knex } from 'knex';

// What a run keeps with its approval for when it resumes (the llm runtime's conversation): read
// only by the claims that resume it, so lists of approvals and runs never carry it.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('approvals', (t) => {
    t.text('checkpoint');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('approvals', (t) => {
    t.dropColumn('checkpoint');
  });
}
