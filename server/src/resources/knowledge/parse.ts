/**
 * An uploaded file as Markdown for the chunker: plain text and Markdown as they are, HTML and .docx through turndown,
 * PDF as its pages' text. Formats are recognised by content first, then declared media type, then file name.
 */
import { detectFormat, hasPdfMagic, type DocumentFormat } from './parse/detect.js';
import { docxToMarkdown } from './parse/docx.js';
import { DocumentParseError, tooLarge } from './parse/errors.js';
import { htmlToMarkdown } from './parse/html.js';
import { pdfToMarkdown } from './parse/pdf.js';
import { decodeText } from './parse/text.js';

export { DocumentParseError, type DocumentParseErrorCode } from './parse/errors.js';
export { detectFormat, type DetectedFormat, type DocumentFormat } from './parse/detect.js';

export type ParsedDocument = { markdown: string; format: DocumentFormat };

/** 10 MB of text is thousands of chunks; past that an upload is more likely a dump or a bomb than a document. */
const MAX_MARKDOWN_CHARS = 10 * 1024 * 1024;

export async function parseDocument(input: { bytes: Buffer; mediaType?: string | undefined; filename?: string | undefined }): Promise<ParsedDocument> {
  const detected = detectFormat(input);
  if (!detected) {
    throw new DocumentParseError('unsupported_media_type', 'The file is not a supported format: upload plain text, Markdown, HTML, PDF or Word (.docx).');
  }
  const { format } = detected;
  const markdown = normalize(await toMarkdown(format, input.bytes));
  if (markdown.length > MAX_MARKDOWN_CHARS) throw tooLarge();
  if (markdown === '') throw new DocumentParseError('unparseable', emptyMessage(format));
  return { markdown, format };
}

async function toMarkdown(format: DocumentFormat, bytes: Buffer): Promise<string> {
  switch (format) {
    case 'pdf':
      if (!hasPdfMagic(bytes)) throw new DocumentParseError('unparseable', 'The file is not a PDF: it does not start with a PDF header.');
      return pdfToMarkdown(bytes, MAX_MARKDOWN_CHARS);
    case 'docx':
      return docxToMarkdown(bytes);
    case 'html':
      return htmlToMarkdown(decodeText(bytes));
    case 'text':
    case 'markdown':
      // Plain text is already Markdown's paragraphs: blank lines separate them the same way.
      return decodeText(bytes);
  }
}

/** The chunker splits on \n alone, and trailing blank space would become empty chunks' offsets. */
function normalize(text: string): string {
  return text.replace(/\r\n?/g, '\n').trim();
}

function emptyMessage(format: DocumentFormat): string {
  if (format === 'pdf') return 'The PDF contains no extractable text (it may be scanned images): upload a version with a text layer.';
  return 'The document contains no text.';
}
