import type { FuzzRequest } from './requests.js';
import type { FuzzResponse } from './send.js';
import type { Operation } from './spec.js';

/** What is wrong with a response, by the API's rules; empty when nothing is. */
export function violations(op: Operation, req: FuzzRequest, res: FuzzResponse): string[] {
  const out: string[] = [];
  // A gateway route's 502, 503 and 504, and those a connection's routes declare, report the provider's failure (the seeded ones listen nowhere), not the server's.
  const upstreamFailure = [502, 503, 504].includes(res.status) && (op.errorFormat !== 'problem' || op.statuses.has(res.status));
  if (res.status >= 500 && !upstreamFailure) out.push(`server error ${res.status}`);
  // The router answers 404/405 itself when an odd path segment no longer matches the template, and
  // the HTTP parser 400 to a malformed message: no operation is reached to declare them.
  const declared = op.statuses.has(res.status) || (!req.routed && (res.status === 404 || res.status === 405)) || (!req.framed && res.status === 400);
  if (!declared) out.push(`status ${res.status} is not declared by ${op.operationId} (${[...op.statuses].join(', ')})`);
  // A message the HTTP parser refuses, or a path the router does not match, reaches no operation: the server answers it with a problem.
  const format = req.framed && req.routed ? op.errorFormat : 'problem';
  if (res.status >= 400 && format !== 'problem') out.push(...envelopeViolations(format, res));
  else if (res.status >= 400) {
    const type = String(res.headers['content-type'] ?? '');
    if (!type.startsWith('application/problem+json')) out.push(`error content type is ${JSON.stringify(type)}, not application/problem+json`);
    let problem: Record<string, unknown> | undefined;
    try {
      problem = JSON.parse(res.body) as Record<string, unknown>;
    } catch {
      out.push('error body is not JSON');
    }
    if (problem) {
      for (const field of ['type', 'title', 'detail', 'code', 'requestId']) if (typeof problem[field] !== 'string') out.push(`problem has no string ${field}`);
      if (problem.status !== res.status) out.push(`problem status ${String(problem.status)} differs from the response's ${res.status}`);
    }
  }
  return out;
}

/** An error of the gateway's routes must be in its provider's envelope, which the official SDKs parse. */
function envelopeViolations(format: 'openai' | 'anthropic', res: FuzzResponse): string[] {
  const out: string[] = [];
  const type = String(res.headers['content-type'] ?? '');
  if (!type.startsWith('application/json')) out.push(`error content type is ${JSON.stringify(type)}, not application/json`);
  let body: { type?: unknown; error?: { type?: unknown; message?: unknown } } | undefined;
  try {
    body = JSON.parse(res.body) as typeof body;
  } catch {
    out.push('error body is not JSON');
  }
  if (body) {
    if (typeof body.error?.message !== 'string' || typeof body.error.type !== 'string') out.push(`error is not in ${format}'s envelope`);
    if (format === 'anthropic' && body.type !== 'error') out.push('anthropic error has no type "error"');
  }
  return out;
}

/** The response as a reader needs it to see the failure. */
export function describeResponse(res: FuzzResponse): string {
  return `${res.status} ${String(res.headers['content-type'] ?? '(no content type)')}\n  ${res.body.slice(0, 600)}`;
}
