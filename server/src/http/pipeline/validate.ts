import type { Context } from 'koa';
import { MULTIPART, type OperationSpec } from '../../spec/operations.js';
import { bodyIssues, type OperationValidators } from '../../spec/validators.js';
import { hasBody, mediaType, readJsonBody } from '../body.js';
import { readMultipartBody } from '../multipart.js';
import { ProblemError, type ValidationIssue } from '../../problems/problems.js';
import type { Result } from './respond.js';

/**
 * A request as the spec types it: the handler's input. `raw` is a JSON body exactly as received
 * (a form's files are not kept twice); `fingerprint` is what identifies the body for
 * Idempotency-Key: those bytes, or for a form what its parts say (see readMultipartBody).
 */
export type ValidRequest = {
  path: Record<string, unknown>;
  query: Record<string, unknown>;
  headers: Record<string, string | undefined>;
  body: unknown;
  raw: Buffer | undefined;
  fingerprint: Buffer | undefined;
};

export type BodyLimits = { bodyBytes: number; uploadBytes: number };

/**
 * Validates path, header and query parameters and the body against the spec, and answers one 422
 * naming every invalid value. A path segment that cannot be an id names no resource: without a
 * declared 422 that is a 404. Validation coerces copies to the spec's types (a path `version`
 * becomes a number); handlers get the copies. `lift` turns a JSON body sent in an older API
 * version into the newest's (versions/versioning.ts) before it is checked.
 */
export async function validate(
  ctx: Context,
  op: OperationSpec,
  validators: OperationValidators,
  limits: BodyLimits,
  lift?: (body: unknown) => unknown,
): Promise<ValidRequest> {
  const path: Record<string, unknown> = { ...(ctx as unknown as { params: Record<string, string> }).params };
  const pathIssues = validators.parameters('path', path);
  if (pathIssues.length && !op.declaresValidation) throw new ProblemError('not-found', `No resource at ${ctx.path}.`);
  const issues: ValidationIssue[] = [...pathIssues, ...validators.parameters('header', { ...ctx.headers })];
  const query = { ...ctx.query } as Record<string, unknown>;
  // The credential, taken from there by the authenticate step; not a parameter of the operation.
  if (op.tokenInQuery) delete query.token;
  issues.push(...validators.parameters('query', query));

  let raw: Buffer | undefined;
  let fingerprint: Buffer | undefined;
  let body: unknown;
  const type = mediaType(ctx.get('content-type'));
  const bodyIssues = (value: unknown) => (validators.body.get(type)?.(value) ?? []).map((i) => ({ ...i, in: 'body' as const }));
  if (op.requestBody?.multipart && type === MULTIPART && hasBody(ctx)) {
    const form = await readMultipartBody(ctx, op.requestBody.multipart, { fileBytes: limits.uploadBytes, fieldBytes: limits.bodyBytes });
    // The schema checks the text fields (coerced to their types) and that each file is there; a file stands in as its name.
    const checked: Record<string, unknown> = { ...form.fields, ...Object.fromEntries([...form.files].map(([name, file]) => [name, file.filename])) };
    issues.push(...bodyIssues(checked));
    body = { ...checked, ...Object.fromEntries(form.files) };
    fingerprint = form.fingerprint;
  } else if (op.requestBody) {
    const read = await readJsonBody(ctx, op.requestBody.contentTypes, limits.bodyBytes);
    raw = read?.raw;
    fingerprint = raw;
    // A body in an older API version is checked as the newest version takes it.
    body = read && lift ? lift(read.value) : read?.value;
    if (read === undefined) {
      if (op.requestBody.required) issues.push({ pointer: '', in: 'body', detail: 'A request body is required.' });
    } else {
      issues.push(...bodyIssues(body));
    }
  }
  if (issues.length) {
    const detail = `The request has ${issues.length} invalid value${issues.length > 1 ? 's' : ''}.`;
    // The public documents declare no 422: a parameter they cannot take is a malformed request.
    throw new ProblemError(op.declaresValidation || !op.responses['400'] ? 'validation-error' : 'bad-request', detail, { errors: issues });
  }

  const headers = Object.fromEntries(op.parameters.filter((p) => p.in === 'header').map((p) => [p.name, ctx.get(p.name) || undefined]));
  return { path, query, headers, body, raw, fingerprint };
}

/**
 * A merge patch is checked alone, but what it merges into must still be a valid resource (say,
 * no more metadata keys than allowed): checked before commit, so a bad result changes nothing.
 */
export function assertMergedResultValid(validators: OperationValidators, result: Result): void {
  const validate = validators.response(`${result.status}:application/json`);
  if (!validate || validate(result.body)) return;
  const errors = bodyIssues(validate.errors).map((e) => ({ ...e, in: 'body' as const }));
  throw new ProblemError('validation-error', 'The resource this patch would produce is not valid.', { errors });
}
