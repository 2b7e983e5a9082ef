import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { isPostgres, type Db } from '../../db/database.js';
import { writerRows } from '../../db/statements.js';
import { serialPasses } from '../../util/serial-passes.js';
import { nowIso } from '../../util/time.js';
import { enabledEndpoints, recordEventFor, wakeAfterCommit, type EndpointTarget } from '../webhooks/outbox.js';
import { AUDIT_COLUMNS, GENESIS_HASH, hashOf, toAuditEvent, type AuditRow } from './store.js';

/** Serialises chaining passes across every replica on PostgreSQL (a constant no other lock uses). */
const CHAINER_LOCK = 0x5357_4155;
/** Events chained per transaction. */
const BATCH = 1000;
/** After a write, a pass starts within this long: one pass chains what many requests wrote. */
const SETTLE_MS = 50;

type Head = { position: number; hash: string };

type Placed = { id: string; position: number; prev_hash: string; hash: string };

/** Writes each event's place: on PostgreSQL in one statement, on SQLite (in-process) one kept prepared update each. */
async function place(trx: Knex.Transaction, placed: Placed[]): Promise<void> {
  if (isPostgres(trx)) {
    const values = placed.map(() => '(?, ?::bigint, ?, ?)').join(', ');
    await trx.raw(
      `update audit_events a set position = v.position, prev_hash = v.prev_hash, hash = v.hash
       from (values ${values}) as v(id, position, prev_hash, hash) where a.id = v.id`,
      placed.flatMap((p) => [p.id, p.position, p.prev_hash, p.hash]),
    );
    return;
  }
  for (const p of placed)
    await writerRows(trx, 'update audit_events set position = ?, prev_hash = ?, hash = ? where id = ? returning id', [p.position, p.prev_hash, p.hash, p.id]);
}

/**
 * Sends each chained event of an application, with its place and hash, to that application's
 * endpoints that opted in to `audit.event`: in the chaining transaction, so each is sent once.
 */
async function streamToEndpoints(trx: Knex.Transaction, rows: AuditRow[], placed: Placed[]): Promise<void> {
  const endpoints = new Map<string, EndpointTarget[]>();
  let recorded = false;
  for (const [i, row] of rows.entries()) {
    const applicationId = row.application_id;
    if (!applicationId) continue;
    if (!endpoints.has(applicationId)) endpoints.set(applicationId, (await enabledEndpoints(trx, applicationId)) as EndpointTarget[]);
    const targets = endpoints.get(applicationId)!;
    if (!targets.length) continue;
    const messages = await recordEventFor(trx, targets, applicationId, 'audit.event', toAuditEvent({ ...row, ...placed[i]! }));
    recorded ||= messages.length > 0;
  }
  if (recorded) wakeAfterCommit(trx);
}

/**
 * Chains up to BATCH committed, unchained events, in one transaction: each organization's after its
 * head, in the order this pass reads them. Only committed events are seen, and passes run one at a
 * time (on PostgreSQL under a lock every replica takes), so positions follow commit order and no
 * writer ever waits for the chain.
 */
export async function chainBatch(db: Db): Promise<number> {
  return db.transaction(async (trx) => {
    if (isPostgres(trx)) await trx.raw('select pg_advisory_xact_lock(?)', [CHAINER_LOCK]);
    const rows = await trx('audit_events')
      .whereNull('position')
      .orderBy([{ column: 'created_at' }, { column: 'id' }])
      .limit(BATCH)
      .select<AuditRow[]>(AUDIT_COLUMNS);
    if (!rows.length) return 0;
    const organizations = [...new Set(rows.map((r) => r.organization_id))];
    const heads = new Map<string, Head>();
    const known = new Set<string>();
    for (const h of await trx('audit_chains').whereIn('organization_id', organizations).select<
      {
        organization_id: string;
        position: number | string;
        hash: string;
      }[]
    >('organization_id', 'position', 'hash')) {
      heads.set(h.organization_id, { position: Number(h.position), hash: h.hash });
      known.add(h.organization_id);
    }
    const placed = rows.map((row) => {
      const head = heads.get(row.organization_id) ?? { position: 0, hash: GENESIS_HASH };
      const position = head.position + 1;
      const hash = hashOf(head.hash, { ...row, position });
      heads.set(row.organization_id, { position, hash });
      return { id: row.id, position, prev_hash: head.hash, hash };
    });
    await place(trx, placed);
    await streamToEndpoints(trx, rows, placed);
    const now = nowIso();
    for (const [organizationId, head] of heads) {
      if (known.has(organizationId))
        await trx('audit_chains')
          .where({ organization_id: organizationId })
          .update({ ...head, updated_at: now });
      else await trx('audit_chains').insert({ organization_id: organizationId, ...head, updated_at: now });
    }
    return rows.length;
  });
}

export type AuditChainer = {
  /** Chains everything committed before the call; readers call it first, so they see their own writes. */
  catchUp(): Promise<void>;
  /** A write committed events: a pass starts soon, nobody waits for it. */
  nudge(): void;
  stop(): Promise<void>;
};

/**
 * Runs chaining passes one at a time: one shortly after writes, one when a reader needs the chain
 * current, and one every `intervalMs` (for events another replica committed and did not chain, or a
 * pass that failed).
 */
export function startAuditChainer(db: Db, options: { intervalMs: number; logger: Logger }): AuditChainer {
  let stopped = false;

  const chainAll = async () => {
    while ((await chainBatch(db)) === BATCH && !stopped);
  };
  const { pass, idle } = serialPasses(chainAll);
  const background = () => {
    if (!stopped) pass().catch((err: unknown) => options.logger.warn({ err }, 'chaining audit events failed'));
  };

  let soon: NodeJS.Timeout | undefined;
  const timer = setInterval(background, options.intervalMs);
  timer.unref();
  return {
    catchUp: pass,
    nudge: () => {
      soon ??= setTimeout(() => {
        soon = undefined;
        background();
      }, SETTLE_MS);
    },
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      if (soon) clearTimeout(soon);
      await idle();
    },
  };
}
