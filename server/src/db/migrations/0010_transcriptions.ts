import type { Knex } from 'knex';

const ts = (t: Knex.CreateTableBuilder, name: string) => t.string(name, 24);

export async function up(knex: Knex): Promise<void> {
  // Uploaded files, content included: every replica reads the same bytes, on SQLite and PostgreSQL
  // alike. Never updated, deleted when they expire (24 h).
  await knex.schema.createTable('uploads', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('filename', 255).notNullable();
    t.string('content_type', 127).notNullable();
    t.bigInteger('bytes').notNullable();
    t.string('sha256', 64).notNullable();
    t.binary('content').notNullable();
    ts(t, 'expires_at').notNullable();
    ts(t, 'created_at').notNullable();
    t.index(['expires_at']);
  });
  // A job's status, result and lock; its audio is a row of its own (below), so that a status change
  // does not rewrite the audio (SQLite rewrites a whole row, blob included).
  await knex.schema.createTable('transcriptions', (t) => {
    t.string('id', 64).primary();
    t.string('application_id', 64).notNullable().references('applications.id').onDelete('CASCADE');
    t.string('key_id', 64);
    t.string('status', 16).notNullable();
    t.string('model', 200).notNullable();
    t.string('language', 64);
    t.text('prompt');
    t.string('timestamps', 16).notNullable();
    t.boolean('retain_audio').notNullable();
    t.string('upload_id', 64);
    t.string('filename', 255).notNullable();
    t.string('content_type', 127).notNullable();
    ts(t, 'audio_expires_at');
    ts(t, 'audio_deleted_at');
    t.text('text');
    t.double('duration_seconds');
    t.text('segments');
    t.text('words');
    t.double('audio_seconds');
    t.bigInteger('cost_micros');
    t.string('error_code', 64);
    t.text('error_message');
    t.text('metadata').notNullable();
    // The worker holding the job (a token per claim) and until when; a crashed worker's claim runs out.
    t.string('lock_token', 64);
    ts(t, 'locked_until');
    ts(t, 'started_at');
    ts(t, 'completed_at');
    ts(t, 'created_at').notNullable();
    ts(t, 'updated_at').notNullable();
    t.index(['application_id', 'created_at']);
    t.index(['status', 'locked_until']);
    t.index(['audio_expires_at']);
  });
  await knex.schema.createTable('transcription_audio', (t) => {
    t.string('transcription_id', 64).primary().references('transcriptions.id').onDelete('CASCADE');
    t.binary('content').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('transcription_audio');
  await knex.schema.dropTable('transcriptions');
  await knex.schema.dropTable('uploads');
}
