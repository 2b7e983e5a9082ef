import mammoth from 'mammoth';
import { DocumentParseError } from './errors.js';
import { htmlToMarkdown } from './html.js';
import { assertZipWithinLimits, readZipDirectory } from './zip.js';

/** A password-protected .docx (and a legacy .doc) is an OLE compound file, not a ZIP. */
const OLE_MAGIC = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);

/** Word's styles become HTML (Heading 1 → h1, ...) through mammoth, then Markdown the way an HTML upload does. */
export async function docxToMarkdown(bytes: Buffer): Promise<string> {
  if (bytes.subarray(0, 8).equals(OLE_MAGIC)) {
    throw new DocumentParseError('unparseable', 'The Word document is password-protected or in the legacy .doc format: upload an unprotected .docx.');
  }
  const directory = readZipDirectory(bytes);
  if (!directory?.names.has('word/document.xml')) {
    throw new DocumentParseError('unparseable', 'The .docx file could not be read: the file is damaged or not a Word document.');
  }
  assertZipWithinLimits(directory);
  let html: string;
  try {
    // Images are left out rather than inlined as base64 data: only their alt text reaches the Markdown.
    const result = await mammoth.convertToHtml({ buffer: bytes }, { convertImage: mammoth.images.imgElement(async () => ({ src: '' })) });
    html = result.value;
  } catch (cause) {
    throw new DocumentParseError('unparseable', 'The .docx file could not be read: the file is damaged or not a Word document.', { cause });
  }
  return htmlToMarkdown(html);
}
