import type { Knex } from 'knex';
import { dialectOf } from '../knex-internals.js';

// Tasks: numbered per application by `task_counters` (one row per application, incremented in the
// creating transaction, so numbers never repeat). Labels are kept on the row for reading and in
// `task_labels` for the label filter; blockers in `task_blockers`, read both ways. The full-text
// index covers title and description: a generated tsvector on PostgreSQL, an FTS5 table kept by
// triggers on SQLite (both tokenise without stemming, so they match alike).
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('task_counters', (t) => {
    t.string('application_id', 64).primary().references('id').inTable('applications').onDelete('CASCADE');
    t.bigInteger('last_number').notNullable();
  });
  await knex.schema.createTable('tasks', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('id').inTable('applications').onDelete('CASCADE');
    t.bigInteger('number').notNullable();
    t.string('title', 200).notNullable();
    t.text('description');
    t.string('status', 16).notNullable();
    t.string('priority', 8).notNullable();
    t.smallint('priority_rank').notNullable();
    t.text('labels').notNullable();
    t.string('assignee_type', 8);
    t.string('assignee_id', 64);
    t.string('parent_id', 64).references('id').inTable('tasks').onDelete('SET NULL');
    t.string('due_at', 30);
    t.text('metadata').notNullable();
    t.string('created_by_type', 16).notNullable();
    t.string('created_by_id', 64).notNullable();
    t.string('started_at', 30);
    t.string('completed_at', 30);
    t.string('cancelled_at', 30);
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.unique(['application_id', 'number']);
    t.index(['application_id', 'created_at']);
    t.index(['application_id', 'status']);
    t.index(['application_id', 'assignee_id']);
    t.index(['parent_id']);
  });
  await knex.schema.createTable('task_labels', (t) => {
    t.string('task_id', 64).notNullable().references('id').inTable('tasks').onDelete('CASCADE');
    t.string('application_id', 64).notNullable();
    t.string('label', 50).notNullable();
    t.primary(['task_id', 'label']);
    t.index(['application_id', 'label']);
  });
  await knex.schema.createTable('task_blockers', (t) => {
    t.string('task_id', 64).notNullable().references('id').inTable('tasks').onDelete('CASCADE');
    t.string('blocker_id', 64).notNullable().references('id').inTable('tasks').onDelete('CASCADE');
    t.primary(['task_id', 'blocker_id']);
    t.index(['blocker_id']);
  });
  if (dialectOf(knex) === 'pg') {
    // ASCII punctuation becomes spaces first, so `10-2291` or `jane@example.com` are words apart as
    // SQLite's tokeniser and the query's split (tasks/search.ts) make them, not one token. Knex
    // reads a bare `?` as a placeholder even without bindings: `\\?` is its literal one.
    const text = `translate(title || ' ' || coalesce(description, ''), '${PUNCTUATION.replaceAll("'", "''").replace('?', '\\?')}', '${' '.repeat(PUNCTUATION.length)}')`;
    await knex.raw(`alter table tasks add column search tsvector generated always as (to_tsvector('simple', ${text})) stored`);
    await knex.raw('create index tasks_search on tasks using gin (search)');
    return;
  }
  // The FTS rows are keyed by a number of the task's own: SQLite's implicit rowid of a table with a
  // text key may change on VACUUM, which would part a task from its index entry.
  await knex.raw('alter table tasks add column search_rowid integer');
  await knex.raw('create unique index tasks_search_rowid on tasks (search_rowid)');
  await knex.raw("create virtual table tasks_fts using fts5(title, description, tokenize='unicode61 remove_diacritics 0')");
  await knex.raw(`create trigger tasks_fts_insert after insert on tasks begin
    update tasks set search_rowid = (select coalesce(max(search_rowid), 0) + 1 from tasks) where id = new.id;
    insert into tasks_fts (rowid, title, description) values ((select search_rowid from tasks where id = new.id), new.title, new.description);
  end`);
  await knex.raw(`create trigger tasks_fts_delete after delete on tasks begin
    delete from tasks_fts where rowid = old.search_rowid;
  end`);
  await knex.raw(`create trigger tasks_fts_update after update of title, description on tasks begin
    update tasks_fts set title = new.title, description = new.description where rowid = new.search_rowid;
  end`);
}

export async function down(knex: Knex): Promise<void> {
  if (dialectOf(knex) !== 'pg') {
    for (const trigger of ['tasks_fts_insert', 'tasks_fts_delete', 'tasks_fts_update']) await knex.raw(`drop trigger if exists ${trigger}`);
    await knex.raw('drop table if exists tasks_fts');
  }
  await knex.schema.dropTable('task_blockers');
  await knex.schema.dropTable('task_labels');
  await knex.schema.dropTable('tasks');
  await knex.schema.dropTable('task_counters');
}
