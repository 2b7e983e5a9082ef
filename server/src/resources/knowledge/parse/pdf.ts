import { Worker, type WorkerOptions } from 'node:worker_threads';
import { DocumentParseError } from './errors.js';
import type { PdfJob, PdfReply } from './pdf-worker.js';

/** About ten times what the largest accepted PDF (2,000 pages) takes, and well within a worker's claim on the document. */
const PARSE_TIMEOUT_MS = 60_000;

/**
 * Starts the worker from its file next to this one: the compiled .js in dist. From the .ts source
 * (tsx in `npm run dev`, vitest), the worker registers tsx itself first: on Node 20 tsx's loader
 * hooks only the main thread.
 */
function startWorker(options: WorkerOptions): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./pdf-worker.js', import.meta.url), options);
  const source = JSON.stringify(new URL('./pdf-worker.ts', import.meta.url).href);
  return new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${source}); });`, { ...options, eval: true });
}

const damaged = (cause: unknown) => new DocumentParseError('unparseable', 'The PDF could not be read: the file is damaged or incomplete.', { cause });

/**
 * The PDF's text (see pdf-worker.ts), extracted in a worker thread of its own so the event loop
 * stays free. A worker that crashes, exits without an answer or outlives `timeoutMs` is ended, and
 * its document fails like a damaged file: never an internal error, never a document left waiting.
 */
export async function pdfToMarkdown(bytes: Buffer, maxChars: number, timeoutMs = PARSE_TIMEOUT_MS): Promise<string> {
  // A copy for the worker to own (transferred, not cloned): pdf.js may detach the buffer it is given.
  const copy = new Uint8Array(bytes).buffer;
  const job: PdfJob = { bytes: copy, maxChars };
  const worker = startWorker({ workerData: job, transferList: [copy] });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await new Promise<string>((resolve, reject) => {
      timer = setTimeout(() => {
        reject(new DocumentParseError('unparseable', `The PDF took longer than ${timeoutMs / 1000} seconds to read: split it into smaller files.`));
      }, timeoutMs);
      worker.once('message', (reply: PdfReply) => {
        if ('text' in reply) resolve(reply.text);
        else reject(new DocumentParseError(reply.error.code, reply.error.message));
      });
      worker.once('error', (err) => {
        reject(damaged(err));
      });
      worker.once('exit', (code) => {
        reject(damaged(new Error(`the PDF worker exited with code ${code} before answering`)));
      });
    });
  } finally {
    clearTimeout(timer);
    void worker.terminate();
  }
}
