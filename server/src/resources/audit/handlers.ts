import { afterCommit } from '../../db/after-commit.js';
import { defineHandlers } from '../handler-types.js';
import { activityOf } from './activity.js';
import type { AuditChainer } from './chainer.js';
import { getExportRow, insertAuditExport, toAuditExport } from './exports.js';
import { downloadOf, wakeExporters } from '../../exports/files.js';
import { getAuditRow, pageOfEvents, toAuditEvent } from './store.js';
import { verifyChain } from './verify.js';

/** Every read chains what was committed before it first: a caller sees the changes it just made. */
export function auditHandlers(chainer: AuditChainer) {
  return defineHandlers({
    listAuditEvents: async ({ db, auth, query }) => {
      await chainer.catchUp();
      const page = await pageOfEvents(db, auth.organizationId, query);
      return { status: 200, body: { data: page.rows.map(toAuditEvent), hasMore: page.hasMore, nextBefore: page.nextBefore } };
    },

    getAuditEvent: async ({ db, auth, path }) => {
      await chainer.catchUp();
      return { status: 200, body: toAuditEvent(await getAuditRow(db, auth.organizationId, path.auditEventId)) };
    },

    verifyAuditEvents: async ({ db, auth, query }) => {
      await chainer.catchUp();
      const { chain, from, to, checked, firstBreak } = await verifyChain(db, auth.organizationId, query);
      return {
        status: 200,
        body: {
          object: 'audit_verification' as const,
          organizationId: auth.organizationId,
          from,
          to,
          checked,
          valid: firstBreak === null,
          firstBreak,
          head: { position: chain.position, hash: chain.hash },
        },
      };
    },

    listActivity: async ({ db, auth, query }) => {
      await chainer.catchUp();
      const page = await pageOfEvents(db, auth.organizationId, { ...query, outcome: query.outcome ?? 'succeeded' });
      return { status: 200, body: { data: await activityOf(db, page.rows), hasMore: page.hasMore, nextBefore: page.nextBefore } };
    },

    createAuditExport: async ({ db, auth, body }) => {
      const row = await insertAuditExport(db, auth.organizationId, body.format, body.filters ?? {});
      afterCommit(db, wakeExporters);
      return { status: 202, body: toAuditExport(row), headers: { Location: `/api/v1/audit-events/exports/${row.id}` } };
    },

    getAuditExport: async ({ db, auth, path }) => ({ status: 200, body: toAuditExport(await getExportRow(db, auth.organizationId, path.auditExportId)) }),

    getAuditExportContent: async ({ db, auth, path }) =>
      downloadOf(db, await getExportRow(db, auth.organizationId, path.auditExportId), 'Audit export', 'audit'),
  });
}
