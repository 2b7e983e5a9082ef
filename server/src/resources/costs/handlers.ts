import { afterCommit } from '../../db/after-commit.js';
import { downloadOf, wakeExporters } from '../../exports/files.js';
import { defineHandlers } from '../handler-types.js';
import { getCostExportRow, insertCostExport, toCostExport } from './exports.js';
import { costReport, rangeOf } from './report.js';

export const costHandlers = defineHandlers({
  getCosts: async ({ db, auth, query }) => ({ status: 200, body: await costReport(db, auth.applicationId, query) }),

  createCostExport: async ({ db, auth, body }) => {
    const range = rangeOf(body.from, body.to, 'body');
    const row = await insertCostExport(db, auth, body.format ?? 'csv', { ...range, groupBy: body.groupBy ?? null });
    afterCommit(db, wakeExporters);
    return { status: 202, body: toCostExport(row), headers: { Location: `/api/v1/costs/exports/${row.id}` } };
  },

  getCostExport: async ({ db, auth, path }) => ({ status: 200, body: toCostExport(await getCostExportRow(db, auth.applicationId, path.costExportId)) }),

  getCostExportContent: async ({ db, auth, path }) => downloadOf(db, await getCostExportRow(db, auth.applicationId, path.costExportId), 'Cost export', 'costs'),
});
