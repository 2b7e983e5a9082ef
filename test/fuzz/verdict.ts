import type { FuzzRequest } from './requests.js';
import type { FuzzResponse } from './send.js';
import type { Operation } from './spec.js';

/** What is wrong with a response, by the API's rules; empty when nothing is. */
export function violations(op: Operation, req: FuzzRequest, res: FuzzResponse): string[] {
  const out: string[] = [];
  if (res.status >= 500) out.push(`server error ${res.status}`);
  // The router answers 404/405 itself when an odd path segment no longer matches the template, and
  // the HTTP parser 400 to a malformed message: no operation is reached to declare them.
  const declared = op.statuses.has(res.status) || (!req.routed && (res.status === 404 || res.status === 405)) || (!req.framed && res.status === 400);
  if (!declared) out.push(`status ${res.status} is not declared by ${op.operationId} (${[...op.statuses].join(', ')})`);
  if (res.status >= 400) {
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

/** The response as a reader needs it to see the failure. */
export function describeResponse(res: FuzzResponse): string {
  return `${res.status} ${String(res.headers['content-type'] ?? '(no content type)')}\n  ${res.body.slice(0, 600)}`;
}
