/** A master key as configured or stored: 32 bytes, base64-encoded; undefined when the text is not one. */
export const parseMasterKey = (text: string): Buffer | undefined => {
  const key = Buffer.from(text.trim(), 'base64');
  return key.length === 32 ? key : undefined;
};
