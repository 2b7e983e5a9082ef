import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { newId } from '../util/ids.js';
import { ProblemError, problemBody, problemTypes, type ProblemCode } from '../problems/problems.js';

/** What Node's parser reports, by its error code: the status and problem of the answer. */
function problemFor(code: string | undefined): { code: ProblemCode; detail: string } {
  if (code === 'HPE_HEADER_OVERFLOW')
    return { code: 'request-header-fields-too-large', detail: 'The request line and headers are larger than the server accepts.' };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return { code: 'request-timeout', detail: 'The request headers or body were not received in time; the connection is closed.' };
  return { code: 'bad-request', detail: `The request is not valid HTTP/1.1 and could not be parsed (${code ?? 'parse error'}); the connection is closed.` };
}

/** The path of the request line, when the bytes Node refused start with a sane one; else the root. */
function instanceOf(rawPacket: unknown): string {
  const head = Buffer.isBuffer(rawPacket) ? rawPacket.subarray(0, 2100).toString('latin1') : '';
  const path = /^[A-Z]{1,20} (\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]{0,1999})[ ?#]/.exec(head)?.[1];
  return path ?? '/';
}

/**
 * Answers what Node's HTTP parser refused before the app saw a request (malformed request line or
 * headers, a body longer than its Content-Length, headers too large or too slow) with a complete
 * HTTP/1.1 response carrying an RFC 9457 problem, like every other error, then closes the
 * connection: after a parse error the rest of its bytes cannot be trusted.
 */
export function clientErrorHandler(logger: Logger) {
  return (err: NodeJS.ErrnoException & { rawPacket?: unknown }, socket: Socket) => {
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    // A reset connection has nobody to answer; a response already under way cannot be interrupted cleanly.
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const requestId = newId('req');
    const { code, detail } = problemFor(err.code);
    const problem = new ProblemError(code, detail);
    logger.info({ requestId, status: problem.status, code: err.code }, 'request refused by the HTTP parser');
    const body = JSON.stringify(problemBody(problem, instanceOf(err.rawPacket), requestId));
    const head = [
      `HTTP/1.1 ${problem.status} ${problemTypes[code].title}`,
      'Content-Type: application/problem+json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      `Request-Id: ${requestId}`,
      'Connection: close',
      `Date: ${new Date().toUTCString()}`,
    ];
    socket.end(`${head.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
  };
}
