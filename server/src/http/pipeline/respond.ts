import type { Context } from 'koa';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../../config/config.js';
import type { OperationSpec } from '../../spec/operations.js';
import type { OperationValidators } from '../../spec/validators.js';
import { etagOfJson } from '../../resources/etag.js';

/** What a handler returns (see `HandlerResult`), as the pipeline handles it. */
/** `headers`: a list sends the header once per value (Set-Cookie). */
export type Result = { status: number; body: unknown; headers?: Record<string, string | string[]>; contentType?: string; stream?: NodeJS.ReadableStream };

/** A result, and its JSON body already serialised when at hand (a stored response's): it is serialised once. */
export type Reply = { result: Result; json: string | undefined };

export type RespondDeps = { config: Pick<Config, 'responseValidation'>; logger: Logger };

/** Thrown when the server itself breaks the contract; never the client's fault. */
export class ContractViolation extends Error {}

export const isJsonBody = (body: unknown) => body !== undefined && !(typeof body === 'string') && !(body instanceof Uint8Array);

/**
 * Sends the reply once it is checked against the contract: status, headers (an ETag where declared),
 * body or stream. `lower` turns the checked result (newest version) into the one the request speaks;
 * its ETag stays the newest representation's, so If-Match works whatever version a client reads in.
 */
export function respond(
  ctx: Context,
  op: OperationSpec,
  validators: OperationValidators,
  deps: RespondDeps,
  { result: checked, json: serialized }: Reply,
  lower?: (result: Result) => Result,
): void {
  const newestJson = isJsonBody(checked.body) ? (serialized ?? JSON.stringify(checked.body)) : undefined;
  const etagged = withEtag(op, checked, newestJson);
  if (deps.config.responseValidation === 'strict') {
    // Checked with the headers as they will go out (those set earlier, such as Request-Id, included), before any is set.
    const outgoing = { ...ctx.response.headers, ...Object.fromEntries(Object.entries(etagged).map(([name, value]) => [name.toLowerCase(), value])) };
    checkResponse(op, validators, deps, checked, outgoing);
  } else checkResponse(op, validators, deps, checked);
  const result = lower ? lower(checked) : checked;
  const json = result === checked ? newestJson : isJsonBody(result.body) ? JSON.stringify(result.body) : undefined;
  const headers = result === checked ? etagged : { ...etagged, ...result.headers };
  ctx.status = result.status;
  ctx.set(headers);
  if ((result.body === undefined && !result.stream) || result.status === 204) {
    // Koa answers a null body with 204; a redirect keeps its status, with an empty body.
    const redirect = result.status >= 300 && result.status < 400;
    ctx.body = redirect ? '' : null;
    if (redirect) ctx.remove('Content-Type');
    return;
  }
  if (result.contentType) ctx.type = result.contentType;
  if (result.stream) {
    ctx.req.socket.setNoDelay(true);
    ctx.body = result.stream;
    return;
  }
  ctx.body = json ?? result.body;
  if (!result.contentType) ctx.type = 'application/json';
}

/** The result's headers, with an ETag when the response declares one: `json` is the body as sent, the ETag hashes those very bytes. */
export function withEtag(op: OperationSpec, result: Result, json: string | undefined): Record<string, string | string[]> {
  const headers = { ...result.headers };
  if (!headers.ETag && json !== undefined && result.body !== null && op.responses[String(result.status)]?.headers.includes('etag')) {
    headers.ETag = etagOfJson(json);
  }
  return headers;
}

/**
 * The response against its operation's contract: status, JSON body and, given `headers`, headers.
 * Headers are checked in strict mode only (development and test): in production, checking them on
 * every response would cost more than the body check, for what the test suites already prove.
 */
export function checkResponse(op: OperationSpec, validators: OperationValidators, deps: RespondDeps, result: Result, headers?: OutgoingHttpHeaders): void {
  if (deps.config.responseValidation === 'off') return;
  const problems: string[] = [];
  const declared = op.responses[String(result.status)];
  if (!declared) problems.push(`status ${result.status} is not declared`);
  else if (isJsonBody(result.body)) {
    const validate = validators.response(`${result.status}:application/json`);
    if (!validate) problems.push(`status ${result.status} declares no JSON body`);
    else if (!validate(result.body)) problems.push(...(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`));
  }
  if (headers) problems.push(...validators.headers(result.status, headers));
  reportBreach(op, problems, deps);
}

/** In development and test a contract breach is a 500; in production it is logged and the response goes out. */
export function reportBreach(op: OperationSpec, problems: string[], deps: RespondDeps): void {
  const mode = deps.config.responseValidation;
  if (mode === 'off' || !problems.length) return;
  const message = `Response of ${op.operationId} breaks the contract: ${problems.join('; ')}`;
  if (mode === 'strict') throw new ContractViolation(message);
  deps.logger.error({ operationId: op.operationId, problems }, 'response breaks the contract');
}

/** Problems thrown by an operation must also be ones it declares. */
export function checkProblemStatus(op: OperationSpec | undefined, status: number, deps: RespondDeps): void {
  if (!op || op.responses[String(status)] || deps.config.responseValidation === 'off') return;
  const message = `${op.operationId} answered ${status}, which its contract does not declare`;
  if (deps.config.responseValidation === 'strict') throw new ContractViolation(message);
  deps.logger.error({ operationId: op.operationId, status }, message);
}
