/**
 * Why an upload could not become Markdown. `unsupported_media_type`: the file is none of the formats the knowledge base reads.
 * `unparseable`: it claims one of them but is damaged, encrypted, empty or too large. The message is shown to the uploader,
 * so it names the problem and never carries a library's text or a path; the library's error stays in `cause` for the logs.
 */
export type DocumentParseErrorCode = 'unsupported_media_type' | 'unparseable';

export class DocumentParseError extends Error {
  override readonly name = 'DocumentParseError';

  constructor(
    readonly code: DocumentParseErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function tooLarge(): DocumentParseError {
  return new DocumentParseError('unparseable', 'The document is too large once extracted (over 10 MB of text).');
}
