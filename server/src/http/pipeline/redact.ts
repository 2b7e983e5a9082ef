import type { RunRedaction } from '../../resources/secrets/redaction.js';
import type { OperationSpec } from '../../spec/operations.js';
import type { Caller } from './authenticate.js';
import type { ValidRequest } from './validate.js';

/**
 * Whatever a run writes (its runner's events, output and messages on its lease; its own task
 * comments, approvals and other writes with its run token) is stored with the secret values
 * released to it replaced by `[secret:NAME]`: here, once, so no store can miss it. The AI gateway's
 * requests go to the model as sent: they are not stored.
 */
export async function redactRunWrite(op: OperationSpec, caller: Caller, request: ValidRequest, redaction: RunRedaction): Promise<void> {
  if (request.body === undefined || op.credential === 'gateway') return;
  const leaseId = caller.run?.leaseId ?? (caller.runner && typeof request.path.leaseId === 'string' ? request.path.leaseId : undefined);
  if (!leaseId) return;
  const redact = await redaction.forLease(leaseId);
  request.body = redact(request.body);
}
