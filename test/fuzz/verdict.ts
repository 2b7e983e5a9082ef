import type { FuzzRequest } from './requests.js';
import type { FuzzResponse } from './send.js';
import type { Operation } from './spec.js';

/** What is wrong with a response, by the API's rules; empty when nothing is. */
export function violations(op: Operation, req: FuzzRequest, res: FuzzResponse): string[] {
  const out: string[] = [];
  // A gateway route's 502, 503 and 504 report its provider's failure (the seeded one listens nowhere), not the server's.
  const upstreamFailure = op.errorFormat === 'openai' && [502, 503, 504].includes(res.status);
  if (res.status >= 500 && !upstreamFailure) out.push(`server error ${res.status}`);
  // The router answers 404/405 itself when an odd path segment no longer matches the template, and
  // the HTTP parser 400 to a malformed message: no operation is reached to declare them.
  const declared = op.statuses.has(res.status) || (!req.routed && (res.status === 404 || res.status === 405)) || (!req.framed && res.status === 400);
  if (!declared) out.push(`status ${res.status} is not declared by ${op.operationId} (${[...op.statuses].join(', ')})`);
  if (res.status >= 400) {
    const type = String(res.headers['content-type'] ?? '');
    // A gateway route answers its own errors in OpenAI's envelope; the pipeline's (credentials, validation) may still be problems.
    if (op.errorFormat === 'openai' && type.startsWith('application/json')) {
      out.push(...envelopeViolations(res));
      return out;
    }
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

/** What is wrong with an error in OpenAI's envelope: `{ "error": { "message", "type", "code", "param" } }`. */
function envelopeViolations(res: FuzzResponse): string[] {
  let envelope: { error?: Record<string, unknown> } | undefined;
  try {
    envelope = JSON.parse(res.body) as { error?: Record<string, unknown> };
  } catch {
    return ['error body is not JSON'];
  }
  const error = envelope.error;
  if (!error || typeof error !== 'object') return ['error has no OpenAI envelope ({ "error": {...} })'];
  return ['message', 'type'].filter((field) => typeof error[field] !== 'string').map((field) => `OpenAI error has no string ${field}`);
}

/** The response as a reader needs it to see the failure. */
export function describeResponse(res: FuzzResponse): string {
  return `${res.status} ${String(res.headers['content-type'] ?? '(no content type)')}\n  ${res.body.slice(0, 600)}`;
}
