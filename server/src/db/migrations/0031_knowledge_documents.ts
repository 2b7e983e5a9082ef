import type { Knex } from 'knex';
import { dialectOf } from '../knex-internals.js';

// Documents of knowledge bases and their chunks. A document keeps the text its serving chunks were
// cut from (`content`) and, while a new version is being indexed, what was imported (`pending_*`);
// the indexing worker swaps the chunks in one transaction, so queries see the old set or the new
// one. Metadata is copied into `knowledge_document_metadata`, one row per field, so filters are
// the same indexed SQL on both databases. Chunks are never updated, only inserted and deleted.
// The full-text index covers a chunk's text and headings, stemmed English: a generated, weighted
// tsvector on PostgreSQL; on SQLite an FTS5 table over the chunks' own columns (external content,
// keyed by `seq`, an integer key that VACUUM keeps), kept by triggers.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('knowledge_bases', (t) => {
    t.string('embedding_model', 200);
  });
  await knex.schema.createTable('knowledge_documents', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('knowledge_base_id', 64).notNullable().references('knowledge_bases.id').onDelete('CASCADE');
    t.string('name', 255).notNullable();
    t.string('source_type', 16).notNullable();
    t.string('filename', 255);
    t.string('media_type', 100);
    t.string('content_hash', 64).notNullable();
    t.bigInteger('bytes').notNullable();
    t.text('metadata').notNullable();
    t.string('status', 16).notNullable();
    t.string('error_code', 32);
    t.text('error_message');
    t.integer('version').notNullable();
    t.integer('chunk_count').notNullable();
    t.bigInteger('token_count').notNullable();
    t.string('indexed_at', 30);
    t.text('content');
    t.string('content_type', 16);
    t.binary('pending_source');
    t.string('pending_type', 16);
    t.string('pending_media_type', 100);
    t.string('lock_token', 64);
    t.string('locked_until', 30);
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.unique(['knowledge_base_id', 'content_hash']);
    t.index(['knowledge_base_id', 'created_at']);
    t.index(['status', 'created_at']);
  });
  await knex.schema.createTable('knowledge_document_metadata', (t) => {
    t.string('document_id', 64).notNullable().references('knowledge_documents.id').onDelete('CASCADE');
    t.string('key', 40).notNullable();
    t.string('value_type', 8).notNullable();
    t.string('text_value', 500).notNullable();
    t.double('number_value');
    t.primary(['document_id', 'key']);
    t.index(['key', 'text_value']);
    t.index(['key', 'number_value']);
  });
  await knex.schema.createTable('knowledge_chunks', (t) => {
    t.increments('seq').primary();
    t.string('id', 64).notNullable().unique();
    t.string('application_id', 64).notNullable();
    t.string('knowledge_base_id', 64).notNullable();
    t.string('document_id', 64).notNullable().references('knowledge_documents.id').onDelete('CASCADE');
    t.integer('document_version').notNullable();
    t.integer('position').notNullable();
    t.text('text').notNullable();
    t.text('headings').notNullable();
    t.text('heading_path').notNullable();
    t.integer('char_start').notNullable();
    t.integer('char_end').notNullable();
    t.integer('token_count').notNullable();
    t.string('embedding_model', 200);
    t.binary('embedding');
    t.index(['document_id', 'position']);
    t.index(['knowledge_base_id']);
  });
  if (dialectOf(knex) === 'pg') {
    await knex.raw(
      "alter table knowledge_chunks add column search tsvector generated always as (setweight(to_tsvector('english', headings), 'A') || setweight(to_tsvector('english', text), 'B')) stored",
    );
    await knex.raw('create index knowledge_chunks_search on knowledge_chunks using gin (search)');
    return;
  }
  await knex.raw(
    "create virtual table knowledge_chunks_fts using fts5(text, headings, content='knowledge_chunks', content_rowid='seq', tokenize='porter unicode61 remove_diacritics 2')",
  );
  await knex.raw(`create trigger knowledge_chunks_fts_insert after insert on knowledge_chunks begin
    insert into knowledge_chunks_fts (rowid, text, headings) values (new.seq, new.text, new.headings);
  end`);
  await knex.raw(`create trigger knowledge_chunks_fts_delete after delete on knowledge_chunks begin
    insert into knowledge_chunks_fts (knowledge_chunks_fts, rowid, text, headings) values ('delete', old.seq, old.text, old.headings);
  end`);
}

export async function down(knex: Knex): Promise<void> {
  if (dialectOf(knex) !== 'pg') {
    for (const trigger of ['knowledge_chunks_fts_insert', 'knowledge_chunks_fts_delete']) await knex.raw(`drop trigger if exists ${trigger}`);
    await knex.raw('drop table if exists knowledge_chunks_fts');
  }
  await knex.schema.dropTable('knowledge_chunks');
  await knex.schema.dropTable('knowledge_document_metadata');
  await knex.schema.dropTable('knowledge_documents');
  await knex.schema.alterTable('knowledge_bases', (t) => {
    t.dropColumn('embedding_model');
  });
}
