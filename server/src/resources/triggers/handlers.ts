import { Webhook } from 'standardwebhooks';
import type { Executor } from '../../db/database.js';
import { hashSecret, hashesEqual } from '../../auth/keys.js';
import { readCredential } from '../../auth/authenticate.js';
import { etagHeaderWithout } from '../etag.js';
import { defineHandlers, type HandlerInput } from '../handler-types.js';
import { ProblemError, type ValidationIssue } from '../../problems/problems.js';
import type { Sealer } from '../../security/sealer.js';
import { resolvePointer } from '../../util/json-pointer.js';
import { mergePatch } from '../../util/merge-patch.js';
import { agentMachine } from '../agents/state-machine.js';
import { getAgent } from '../agents/store.js';
import { assertUnlocked, inputRulesOf, resolveInput } from '../agents/inputs.js';
import type { RunEventBus } from '../runs/events.js';
import { insertRun } from '../runs/store.js';
import { recordEvent } from '../webhooks/outbox.js';
import { admitNewRun } from '../budgets/admission.js';
import { triggerMachine } from './state-machine.js';
import * as store from './store.js';

const unauthorized = (detail: string) => new ProblemError('unauthorized', detail);
const TRIGGERED_RUN_TTL_SECONDS = 3600;
const MAX_MAPPED_FIELDS = 50;

async function transition(db: Executor, applicationId: string, triggerId: string, action: 'pause' | 'resume') {
  const row = await store.getTriggerRow(db, { id: triggerId, application_id: applicationId }, { forUpdate: true });
  const { to, event } = triggerMachine.assertTransition(action, row.status);
  await store.setTriggerStatus(db, row.id, to);
  const trigger = store.toTrigger(await store.getTriggerRow(db, { id: row.id }));
  await recordEvent(db, applicationId, event, trigger);
  return { status: 200 as const, body: trigger };
}

/** The caller must prove it holds the trigger's credential: a valid, fresh signature, or the token. */
function authenticateCall(input: HandlerInput<'invokeTrigger'>, row: store.TriggerRow, sealer: Sealer) {
  if (row.authentication === 'token') {
    const token = readCredential(input.ctx);
    if (!token || !row.token_hash || !hashesEqual(hashSecret(token), row.token_hash)) throw unauthorized('The trigger token is missing or wrong.');
    return;
  }
  try {
    new Webhook(sealer.open(row.secret_sealed!, row.application_id)).verify(input.rawBody?.toString('utf8') ?? '', {
      'webhook-id': input.ctx.get('webhook-id'),
      'webhook-timestamp': input.ctx.get('webhook-timestamp'),
      'webhook-signature': input.ctx.get('webhook-signature'),
    });
  } catch {
    throw unauthorized('The Standard Webhooks signature is missing, wrong, or its timestamp is too old or in the future.');
  }
}

/** The run input: the payload itself, or the fields the mapping points at (422 naming any the payload lacks). */
function mapInput(payload: Record<string, unknown>, mapping: store.InputMapping): Record<string, unknown> {
  if (!mapping) return payload;
  const errors: ValidationIssue[] = [];
  const fields: [string, unknown][] = [];
  for (const [field, pointer] of Object.entries(mapping)) {
    const { found, value } = resolvePointer(payload, pointer);
    if (found) fields.push([field, value]);
    else errors.push({ pointer, in: 'body', detail: `The payload has nothing at ${pointer} (mapped to input field "${field}").` });
  }
  if (errors.length) throw new ProblemError('validation-error', 'The payload lacks fields the trigger maps into the run input.', { errors });
  // fromEntries defines each field: one the client named `__proto__` stays a field, not the object's prototype.
  return Object.fromEntries(fields);
}

export function triggerHandlers(bus: RunEventBus, sealer: Sealer) {
  return defineHandlers({
    listTriggers: async ({ db: trx, auth, query }) => ({ status: 200, body: await store.listTriggers(trx, auth.applicationId, query) }),

    createTrigger: async ({ db: trx, auth, body }) => {
      const agent = await getAgent(trx, auth.applicationId, body.agentId);
      agentMachine.assertTransition('planRuns', agent.status);
      if (body.inputMapping) assertUnlocked(await inputRulesOf(trx, agent), Object.keys(body.inputMapping), '/inputMapping');
      const trigger = await store.insertTrigger(
        trx,
        sealer,
        { applicationId: auth.applicationId, agentId: agent.id },
        {
          name: body.name,
          authentication: body.authentication ?? 'signature',
          inputMapping: body.inputMapping ?? null,
        },
      );
      const { secret: _secret, ...created } = trigger;
      await recordEvent(trx, auth.applicationId, 'trigger.created', created);
      return { status: 201, body: trigger, headers: { Location: `/api/v1/triggers/${trigger.id}`, ...etagHeaderWithout(trigger, 'secret') } };
    },

    getTrigger: async ({ db: trx, auth, path }) => ({
      status: 200,
      body: store.toTrigger(await store.getTriggerRow(trx, { id: path.triggerId, application_id: auth.applicationId })),
    }),

    updateTrigger: async ({ db: trx, auth, path, body, checkIfMatch }) => {
      const row = await store.getTriggerRow(trx, { id: path.triggerId, application_id: auth.applicationId }, { forUpdate: true });
      const current = store.toTrigger(row);
      checkIfMatch(current);
      // RFC 7396 on the mapping too: fields merge, a null field is removed, a null mapping clears it.
      let inputMapping = current.inputMapping;
      if (body.inputMapping === null) inputMapping = null;
      else if (body.inputMapping) inputMapping = mergePatch<Record<string, string>>(current.inputMapping ?? {}, body.inputMapping);
      if (inputMapping && Object.keys(inputMapping).length > MAX_MAPPED_FIELDS) {
        throw new ProblemError('validation-error', `The merged inputMapping has more than ${MAX_MAPPED_FIELDS} fields.`, {
          errors: [{ pointer: '/inputMapping', in: 'body', detail: `At most ${MAX_MAPPED_FIELDS} fields.` }],
        });
      }
      if (body.inputMapping) {
        const rules = await inputRulesOf(trx, await getAgent(trx, auth.applicationId, row.agent_id));
        assertUnlocked(rules, Object.keys(body.inputMapping), '/inputMapping');
      }
      await store.updateTrigger(trx, row.id, { name: body.name ?? current.name, inputMapping });
      const trigger = store.toTrigger(await store.getTriggerRow(trx, { id: row.id }));
      await recordEvent(trx, auth.applicationId, 'trigger.updated', trigger);
      return { status: 200, body: trigger };
    },

    deleteTrigger: async ({ db: trx, auth, path, checkIfMatch }) => {
      const row = await store.getTriggerRow(trx, { id: path.triggerId, application_id: auth.applicationId }, { forUpdate: true });
      const trigger = store.toTrigger(row);
      checkIfMatch(trigger);
      await store.deleteTrigger(trx, row.id);
      await recordEvent(trx, auth.applicationId, 'trigger.deleted', trigger);
      return { status: 204, body: undefined };
    },

    pauseTrigger: ({ db: trx, auth, path }) => transition(trx, auth.applicationId, path.triggerId, 'pause'),
    resumeTrigger: ({ db: trx, auth, path }) => transition(trx, auth.applicationId, path.triggerId, 'resume'),

    rotateTriggerSecret: async ({ db: trx, auth, path }) => {
      const row = await store.getTriggerRow(trx, { id: path.triggerId, application_id: auth.applicationId }, { forUpdate: true });
      const secret = await store.rotateSecret(trx, sealer, row);
      const rotated = store.toTrigger(await store.getTriggerRow(trx, { id: row.id }));
      await recordEvent(trx, auth.applicationId, 'trigger.secret_rotated', rotated);
      const trigger = { ...rotated, secret };
      return { status: 200, body: trigger, headers: etagHeaderWithout(trigger, 'secret') };
    },

    invokeTrigger: async (input) => {
      const trx = input.db;
      const row = await store.getTriggerRow(trx, { id: input.path.triggerId });
      authenticateCall(input, row, sealer);
      input.audit.describe({ applicationId: row.application_id, actor: { type: 'trigger', id: row.id, userId: null } });
      triggerMachine.assertTransition('invoke', row.status);
      const webhookId = input.ctx.get('webhook-id');
      if (webhookId && !(await store.claimInvocation(trx, row.id, webhookId))) {
        const runId = await store.invocationRunId(trx, row.id, webhookId);
        return { status: 202, body: { object: 'trigger_invocation', triggerId: row.id, runId, duplicate: true } };
      }
      const agent = await getAgent(trx, row.application_id, row.agent_id);
      if (!agentMachine.canTransition('startRun', agent.status)) {
        throw new ProblemError('invalid-transition', `The trigger's agent is ${agent.status}; it accepts no new runs.`);
      }
      const { run, events } = await insertRun(trx, {
        applicationId: row.application_id,
        agentId: agent.id,
        agentVersion: agent.version,
        // The payload is the run's input: its pointers are the payload's own.
        input: resolveInput(
          await inputRulesOf(trx, agent),
          mapInput(input.body, row.input_mapping === null ? null : (JSON.parse(row.input_mapping) as Record<string, string>)),
          '',
        ),
        metadata: {},
        ttlSeconds: TRIGGERED_RUN_TTL_SECONDS,
        endUserId: null,
        triggeredBy: { type: 'trigger', id: row.id },
      });
      if (webhookId) await store.setInvocationRun(trx, row.id, webhookId, run.id);
      const over = await admitNewRun(trx, run.id, 'record');
      input.afterCommit(() => bus.publish([...events, ...(over?.events ?? [])]));
      return { status: 202, body: { object: 'trigger_invocation', triggerId: row.id, runId: run.id, duplicate: false } };
    },
  });
}
