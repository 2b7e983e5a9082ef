import type { Problem } from './generated/types.gen.js';

/** An API error, with the RFC 9457 problem the server sent and the request id to quote. */
export class SwitchboardError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problem: Problem | undefined;
  readonly requestId: string | undefined;
  readonly headers: Headers;

  constructor(response: Response, problem: Problem | undefined) {
    super(problem ? `${problem.title}: ${problem.detail}` : `HTTP ${response.status}`);
    this.name = 'SwitchboardError';
    this.status = response.status;
    this.code = problem?.code ?? `http-${response.status}`;
    this.problem = problem;
    this.requestId = problem?.requestId ?? response.headers.get('request-id') ?? undefined;
    this.headers = response.headers;
  }
}
