/**
 * The PDF text extraction, run in a worker thread (`pdf.ts` starts it): pdf.js takes about 2 ms a
 * page, which on the main thread would stall every request for as long as a large PDF parses.
 * It answers its parent once, with the text or the parse error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { getDocumentProxy } from 'unpdf';
import { DocumentParseError, tooLarge, type DocumentParseErrorCode } from './errors.js';

const MAX_PAGES = 2_000;

/** What the parent sends: the file (transferred, this thread's own) and the most text it may become. */
export type PdfJob = { bytes: ArrayBuffer; maxChars: number };
export type PdfReply = { text: string } | { error: { code: DocumentParseErrorCode; message: string } };

/**
 * Each page's text, pages separated by a blank line so the chunker sees them as paragraphs. pdf.js runs in this thread
 * with no cMapUrl or standardFontDataUrl, so it never fetches anything; text in fonts that need an external CMap is lost.
 */
async function pdfText(bytes: Uint8Array, maxChars: number): Promise<string> {
  let pdf;
  try {
    pdf = await getDocumentProxy(bytes, {
      isEvalSupported: false,
      disableFontFace: true,
      useSystemFonts: false,
      useWorkerFetch: false,
      verbosity: 0,
    });
  } catch (cause) {
    if (cause instanceof Error && cause.name === 'PasswordException') {
      throw new DocumentParseError('unparseable', 'The PDF is protected by a password: upload an unprotected copy.', { cause });
    }
    throw new DocumentParseError('unparseable', 'The PDF could not be read: the file is damaged or incomplete.', { cause });
  }
  try {
    if (pdf.numPages > MAX_PAGES) throw new DocumentParseError('unparseable', `The PDF has ${pdf.numPages} pages; at most ${MAX_PAGES} are accepted.`);
    const pages: string[] = [];
    let length = 0;
    for (let n = 1; n <= pdf.numPages; n++) {
      const page = await pdf.getPage(n);
      const content = await page.getTextContent();
      page.cleanup();
      const text = content.items
        .map((item) => ('str' in item ? item.str + (item.hasEOL ? '\n' : '') : ''))
        .join('')
        .trim();
      length += text.length + 2;
      if (length > maxChars) throw tooLarge();
      if (text) pages.push(text);
    }
    return pages.join('\n\n');
  } catch (cause) {
    if (cause instanceof DocumentParseError) throw cause;
    throw new DocumentParseError('unparseable', 'The PDF could not be read: the file is damaged or incomplete.', { cause });
  } finally {
    await pdf.destroy();
  }
}

const job = workerData as PdfJob;
// Only a DocumentParseError crosses back (its code and message); anything else ends the thread, which the parent reports.
const reply: PdfReply = await pdfText(new Uint8Array(job.bytes), job.maxChars).then(
  (text) => ({ text }),
  (err: unknown) => {
    if (err instanceof DocumentParseError) return { error: { code: err.code, message: err.message } };
    throw err;
  },
);
parentPort?.postMessage(reply);
