import { Document, HeadingLevel, Packer, Paragraph } from 'docx';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { describe, expect, it } from 'vitest';
import { chunkMarkdown } from '../../server/src/resources/knowledge/chunker.js';
// The built parser: PDFs are read in a worker thread, started from its compiled file in server/dist.
import { DocumentParseError, parseDocument } from '../../server/dist/resources/knowledge/parse.js';
import { pdfToMarkdown } from '../../server/dist/resources/knowledge/parse/pdf.js';

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

async function pdf(pages: string[][]): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (const lines of pages) {
    const page = doc.addPage();
    lines.forEach((line, i) => page.drawText(line, { x: 50, y: 700 - i * 20, font, size: 12 }));
  }
  return Buffer.from(await doc.save());
}

async function docx(): Promise<Buffer> {
  const doc = new Document({
    sections: [
      {
        children: [
          new Paragraph({ text: 'Handbook', heading: HeadingLevel.HEADING_1 }),
          new Paragraph('Welcome to the team.'),
          new Paragraph({ text: 'Holidays', heading: HeadingLevel.HEADING_2 }),
          new Paragraph('Everyone gets thirty days.'),
        ],
      },
    ],
  });
  return Packer.toBuffer(doc);
}

/** Rewrites the uncompressed size every central directory entry declares, as a zip bomb's would read. */
function declareHugeEntries(zip: Buffer): Buffer {
  const copy = Buffer.from(zip);
  for (let at = copy.indexOf('PK\x01\x02'); at >= 0; at = copy.indexOf('PK\x01\x02', at + 4)) copy.writeUInt32LE(0x7fffffff, at + 24);
  return copy;
}

async function failure(input: Parameters<typeof parseDocument>[0]): Promise<DocumentParseError> {
  const error = await parseDocument(input).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(DocumentParseError);
  const parseError = error as DocumentParseError;
  expect(parseError.message).not.toMatch(/\/work|node_modules|\n\s+at /);
  return parseError;
}

describe('knowledge document parser', () => {
  it('passes text and Markdown through, without a BOM and with \\n line ends', async () => {
    expect(await parseDocument({ bytes: Buffer.from('\uFEFFHello\r\n\r\nWorld', 'utf8'), filename: 'notes.txt' })).toEqual({
      markdown: 'Hello\n\nWorld',
      format: 'text',
    });
    expect(await parseDocument({ bytes: Buffer.from('# Title\n\nBody'), mediaType: 'text/markdown; charset=utf-8' })).toEqual({
      markdown: '# Title\n\nBody',
      format: 'markdown',
    });
  });

  it('turns HTML into Markdown: ATX headings, fenced code, no script or style', async () => {
    const html =
      '<html><head><title>T</title><style>p{color:red}</style></head><body><h1>Guide</h1><p>Intro <b>text</b>.</p>' +
      '<script>alert("secret")</script><h2>Install</h2><pre><code class="language-sh">npm install\nnpm test</code></pre></body></html>';
    const { markdown, format } = await parseDocument({ bytes: Buffer.from(html), mediaType: 'text/html' });
    expect(format).toBe('html');
    expect(markdown).toMatch(/^# Guide$/m);
    expect(markdown).toMatch(/^## Install$/m);
    expect(markdown).toContain('```sh\nnpm install\nnpm test\n```');
    expect(markdown).not.toMatch(/alert|secret|color/);
  });

  it('reads a PDF page by page, separated by blank lines', async () => {
    const bytes = await pdf([['First page text', 'second line'], ['Second page text']]);
    const { markdown, format } = await parseDocument({ bytes, mediaType: 'application/pdf', filename: 'a.pdf' });
    expect(format).toBe('pdf');
    expect(markdown).toContain('First page text');
    expect(markdown).toContain('second line');
    expect(markdown).toMatch(/second line\n\nSecond page text/);
  });

  it('reads a PDF in a worker thread: the parse goes on while this thread is blocked', async () => {
    const bytes = await pdf(Array.from({ length: 200 }, (_, i) => [`Page ${i + 1}`]));
    // Blocked longer each time, for a loaded machine's sake: only a parse on another thread can end while this one is blocked.
    for (let blockMs = 1_000; ; blockMs *= 2) {
      const parsed = parseDocument({ bytes, mediaType: 'application/pdf' });
      const first = await new Promise<string>((resolve) => {
        const answered = () => resolve('parsed');
        parsed.then(answered, answered);
        // Blocked in a timer: on waking the event loop polls (delivering the worker's answer) before it runs setImmediate's callback.
        setTimeout(() => {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, blockMs);
          setImmediate(() => resolve('woke'));
        }, 0);
      });
      expect((await parsed).markdown).toMatch(/^Page 1\n\nPage 2\n\n/);
      if (first === 'parsed') return;
      if (blockMs >= 8_000) throw new Error('the PDF parse never ended while the event loop was blocked: it is not running in a worker thread');
    }
  }, 60_000);

  it('refuses a PDF that takes longer than the time allowed to read as unparseable', async () => {
    const bytes = await pdf([['Slow to read']]);
    const error = await pdfToMarkdown(bytes, 1_000, 1).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(DocumentParseError);
    expect(error).toMatchObject({
      code: 'unparseable',
      message: expect.stringMatching(/^The PDF took longer than .+ seconds to read: split it into smaller files\.$/),
    });
    // The next PDF gets a worker of its own.
    expect(await pdfToMarkdown(bytes, 1_000)).toBe('Slow to read');
  });

  it('detects a PDF by its magic bytes even when it is declared as text', async () => {
    const bytes = await pdf([['Mislabelled but fine']]);
    const parsed = await parseDocument({ bytes, mediaType: 'text/plain', filename: 'a.txt' });
    expect(parsed.format).toBe('pdf');
    expect(parsed.markdown).toContain('Mislabelled but fine');
  });

  it('turns a docx into Markdown whose headings the chunker follows', async () => {
    const { markdown, format } = await parseDocument({ bytes: await docx(), mediaType: 'application/octet-stream' });
    expect(format).toBe('docx');
    expect(markdown).toMatch(/^# Handbook$/m);
    expect(markdown).toMatch(/^## Holidays$/m);
    expect(markdown).toContain('Everyone gets thirty days.');
    const chunks = chunkMarkdown(markdown, { maxTokens: 512, overlapTokens: 0 });
    expect(chunks.map((c) => c.headingPath)).toEqual([['Handbook'], ['Handbook', 'Holidays']]);
  });

  it('refuses binary content and unknown formats as unsupported_media_type', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    expect((await failure({ bytes: png, mediaType: 'image/png', filename: 'a.png' })).code).toBe('unsupported_media_type');
    expect((await failure({ bytes: png, mediaType: 'text/plain', filename: 'a.txt' })).code).toBe('unsupported_media_type');
    expect((await failure({ bytes: Buffer.from('hello') })).code).toBe('unsupported_media_type');
  });

  it('refuses a truncated PDF, a corrupt docx and text that is not UTF-8 as unparseable', async () => {
    const whole = await pdf([['Some text']]);
    const truncated = await failure({ bytes: whole.subarray(0, 300), mediaType: 'application/pdf' });
    expect(truncated).toMatchObject({ code: 'unparseable', message: 'The PDF could not be read: the file is damaged or incomplete.' });
    const corrupt = await failure({ bytes: Buffer.from('PK\x03\x04 not really a zip'), mediaType: DOCX, filename: 'a.docx' });
    expect(corrupt).toMatchObject({ code: 'unparseable', message: 'The .docx file could not be read: the file is damaged or not a Word document.' });
    const latin1 = await failure({ bytes: Buffer.from('caf\xe9', 'latin1'), mediaType: 'text/plain' });
    expect(latin1.code).toBe('unparseable');
  });

  it('refuses a docx whose entries declare more than 50 MB uncompressed, before inflating it', async () => {
    const error = await failure({ bytes: declareHugeEntries(await docx()), filename: 'bomb.docx' });
    expect(error).toMatchObject({ code: 'unparseable', message: expect.stringContaining('too large once uncompressed') });
  });

  it('refuses a document with no text', async () => {
    const error = await failure({ bytes: await pdf([[]]), mediaType: 'application/pdf' });
    expect(error.code).toBe('unparseable');
    expect(error.message).toContain('no extractable text');
  });
});
