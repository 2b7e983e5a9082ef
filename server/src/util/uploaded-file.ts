/**
 * A file part of a `multipart/form-data` body, read whole (within the upload limit). The request
 * pipeline puts one in the body where the spec declares a `format: binary` field, whose generated
 * type says `string`: `uploadedFile` gives it its real type.
 */
export type UploadedFile = {
  readonly kind: 'uploaded-file';
  /** The part's file name, its directories dropped and made printable. */
  filename: string;
  /** The part's media type, or for `application/octet-stream` the one its extension names. */
  contentType: string;
  data: Buffer;
  /** SHA-256 of `data`, lowercase hex. */
  sha256: string;
};

export function uploadedFile(value: unknown): UploadedFile {
  if ((value as UploadedFile | undefined)?.kind !== 'uploaded-file')
    throw new TypeError('Not an uploaded file: the spec does not declare this field as binary.');
  return value as UploadedFile;
}
