import type { Executor } from '../../db/database.js';
import { defineHandlers, type HandlerResult } from '../handler-types.js';
import { ProblemError } from '../../problems/problems.js';
import { uploadedFile } from '../../util/uploaded-file.js';
import { modelsByAlias, resolveAlias } from '../models/store.js';
import { releaseCall, reserveCall } from '../budgets/enforcement.js';
import { estimateAudioMicros } from '../gateway/estimate.js';
import { outsideRuns } from '../usage/attribution.js';
import { getUploadRow } from '../uploads/store.js';
import { renderContent } from './formats.js';
import { letGoOfTranscription, wakeTranscribers } from './queue.js';
import { transcriptionMachine } from './state-machine.js';
import * as store from './store.js';

const invalid = (pointer: string, detail: string) => new ProblemError('validation-error', detail, { errors: [{ pointer, in: 'body', detail }] });

/** The alias must be the application's and serve transcription: a job that could never run is refused now. */
async function assertTranscriptionAlias(db: Executor, applicationId: string, alias: string): Promise<void> {
  const model = (await modelsByAlias(db, applicationId, [alias])).get(alias);
  if (!model) throw invalid('/model', `No model alias "${alias}" in this application.`);
  if (model.api !== 'transcription') throw invalid('/model', `The model alias "${alias}" serves the ${model.api} API, not transcription.`);
}

const transcriptionIn = (db: Executor, applicationId: string, id: string, forUpdate = false) =>
  store.getTranscriptionRow(db, { id, application_id: applicationId }, { forUpdate });

export const transcriptionHandlers = defineHandlers({
  listTranscriptions: async ({ db, auth, query }) => ({ status: 200, body: await store.listTranscriptions(db, auth.applicationId, query) }),

  createTranscription: async ({ db, auth, body, afterCommit }) => {
    await assertTranscriptionAlias(db, auth.applicationId, body.model);
    const common = {
      keyId: auth.keyId,
      model: body.model,
      language: body.language ?? null,
      prompt: body.prompt ?? null,
      timestamps: body.timestamps ?? 'segment',
      retainAudio: body.retainAudio ?? false,
      metadata: body.metadata ?? {},
    };
    let row: store.TranscriptionRow;
    let bytes: number;
    if ('uploadId' in body) {
      const upload = await getUploadRow(db, auth.applicationId, body.uploadId).catch((err: unknown) => {
        if (err instanceof ProblemError && err.code === 'not-found')
          throw invalid('/uploadId', `No upload with id ${body.uploadId} in this application (or it has expired).`);
        throw err;
      });
      const source = { uploadId: upload.id, filename: upload.filename, contentType: upload.content_type };
      row = await store.insertTranscription(db, auth.applicationId, { ...common, ...source }, { uploadId: upload.id });
      bytes = Number(upload.bytes);
    } else {
      const file = uploadedFile(body.file);
      row = await store.insertTranscription(
        db,
        auth.applicationId,
        { ...common, uploadId: null, filename: file.filename, contentType: file.contentType },
        file.data,
      );
      bytes = file.data.length;
    }
    // The job holds its reservation under its id, the request id its usage is recorded with.
    const chain = (await resolveAlias(db, auth.applicationId, body.model)).filter((t) => t.model.api === 'transcription');
    await reserveCall(db, outsideRuns(auth.applicationId, { keyId: auth.keyId, userId: null, endUserId: null }), row.id, estimateAudioMicros(bytes, chain));
    afterCommit(async () => wakeTranscribers());
    const transcription = store.toTranscription(row);
    return { status: 202, body: transcription, headers: { Location: `/api/v1/transcriptions/${transcription.id}` } };
  },

  getTranscription: async ({ db, auth, path }) => ({
    status: 200,
    body: store.toTranscription(await transcriptionIn(db, auth.applicationId, path.transcriptionId)),
  }),

  getTranscriptionContent: async ({ db, auth, path, query }) => {
    const transcription = store.toTranscription(await transcriptionIn(db, auth.applicationId, path.transcriptionId));
    transcriptionMachine.assertTransition('readContent', transcription.status);
    const { body, contentType } = renderContent(transcription, query.format ?? 'txt');
    // The text formats are strings, which the handler type (keyed on the JSON one) does not name.
    return { status: 200, body, contentType } as HandlerResult<'getTranscriptionContent'>;
  },

  cancelTranscription: async ({ db, auth, path, afterCommit }) => {
    const row = await transcriptionIn(db, auth.applicationId, path.transcriptionId, true);
    transcriptionMachine.assertTransition('cancel', row.status);
    await store.endUnfinished(db, row.id, 'cancelled');
    await releaseCall(db, row.id);
    afterCommit(async () => letGoOfTranscription(row.id));
    return { status: 200, body: store.toTranscription(await store.getTranscriptionRow(db, { id: row.id })) };
  },

  deleteTranscription: async ({ db, auth, path, checkIfMatch, afterCommit }) => {
    const row = await transcriptionIn(db, auth.applicationId, path.transcriptionId, true);
    checkIfMatch(store.toTranscription(row));
    await store.deleteTranscription(db, row.id);
    await releaseCall(db, row.id);
    afterCommit(async () => letGoOfTranscription(row.id));
    return { status: 204, body: undefined };
  },
});
