import { DocumentParseError } from './errors.js';

/** UTF-8 text with its byte order mark dropped (TextDecoder drops it unless told not to). */
export function decodeText(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new DocumentParseError('unparseable', 'The file is not valid UTF-8 text: save it with UTF-8 encoding and upload it again.', { cause });
  }
}
