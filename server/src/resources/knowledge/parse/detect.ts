import { isZip, readZipDirectory } from './zip.js';

export type DocumentFormat = 'text' | 'markdown' | 'html' | 'pdf' | 'docx';

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

const MEDIA_TYPES: Record<string, DocumentFormat> = {
  'text/plain': 'text',
  'text/markdown': 'markdown',
  'text/x-markdown': 'markdown',
  'text/html': 'html',
  'application/xhtml+xml': 'html',
  'application/pdf': 'pdf',
  [DOCX]: 'docx',
};

const EXTENSIONS: Record<string, DocumentFormat> = {
  txt: 'text',
  md: 'markdown',
  markdown: 'markdown',
  html: 'html',
  htm: 'html',
  pdf: 'pdf',
  docx: 'docx',
};

export function hasPdfMagic(bytes: Buffer): boolean {
  return bytes.subarray(0, 5).toString('latin1') === '%PDF-';
}

export function isDocxArchive(bytes: Buffer): boolean {
  return isZip(bytes) && (readZipDirectory(bytes)?.names.has('word/document.xml') ?? false);
}

/** A supported format and the canonical media type it is stored under. */
export type DetectedFormat = { format: DocumentFormat; mediaType: string };

const CANONICAL: Record<DocumentFormat, string> = {
  text: 'text/plain',
  markdown: 'text/markdown',
  html: 'text/html',
  pdf: 'application/pdf',
  docx: DOCX,
};

/**
 * The content decides first, since browsers and clients often send a generic or wrong type; then the declared media type
 * (without parameters such as charset); then the file name's extension. An unknown or generic type such as
 * application/octet-stream defers to the extension rather than refusing the file. Text with a NUL byte is binary,
 * whatever it was called. Undefined means none of the supported formats.
 */
export function detectFormat(input: { bytes: Buffer; mediaType?: string | undefined; filename?: string | undefined }): DetectedFormat | undefined {
  const format = formatOf(input.bytes, input.mediaType, input.filename);
  if (!format) return undefined;
  if ((format === 'text' || format === 'markdown' || format === 'html') && input.bytes.includes(0)) return undefined;
  return { format, mediaType: CANONICAL[format] };
}

function formatOf(bytes: Buffer, mediaType?: string, filename?: string): DocumentFormat | undefined {
  if (hasPdfMagic(bytes)) return 'pdf';
  if (isDocxArchive(bytes)) return 'docx';
  const declared = mediaType?.split(';')[0]!.trim().toLowerCase();
  const byType = declared ? MEDIA_TYPES[declared] : undefined;
  if (byType) return byType;
  const extension = filename?.includes('.') ? filename.slice(filename.lastIndexOf('.') + 1).toLowerCase() : undefined;
  return extension ? EXTENSIONS[extension] : undefined;
}
