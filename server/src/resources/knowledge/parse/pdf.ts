import { getDocumentProxy } from 'unpdf';
import { DocumentParseError } from './errors.js';

const MAX_PAGES = 2_000;

/**
 * Each page's text, pages separated by a blank line so the chunker sees them as paragraphs. pdf.js runs in this thread
 * with no cMapUrl or standardFontDataUrl, so it never fetches anything; text in fonts that need an external CMap is lost.
 */
export async function pdfToMarkdown(bytes: Buffer, maxChars: number): Promise<string> {
  let pdf;
  try {
    // pdf.js may detach the buffer it is given: it gets a copy.
    pdf = await getDocumentProxy(new Uint8Array(bytes), {
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

export function tooLarge(): DocumentParseError {
  return new DocumentParseError('unparseable', 'The document is too large once extracted (over 10 MB of text).');
}
