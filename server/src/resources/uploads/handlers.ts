import { defineHandlers } from '../handler-types.js';
import { uploadedFile } from '../../util/uploaded-file.js';
import * as store from './store.js';

export const uploadHandlers = defineHandlers({
  createUpload: async ({ db, auth, body }) => {
    const upload = store.toUpload(await store.insertUpload(db, auth.applicationId, uploadedFile(body.file)));
    return { status: 201, body: upload, headers: { Location: `/api/v1/uploads/${upload.id}` } };
  },

  getUpload: async ({ db, auth, path }) => ({ status: 200, body: store.toUpload(await store.getUploadRow(db, auth.applicationId, path.uploadId)) }),

  deleteUpload: async ({ db, auth, path }) => {
    const row = await store.getUploadRow(db, auth.applicationId, path.uploadId);
    await store.deleteUpload(db, row.id);
    return { status: 204, body: undefined };
  },
});
