/** One reference token of an RFC 6901 JSON Pointer: a key with `~` and `/` escaped. */
export const escapeToken = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** The key a reference token stands for. */
export const unescapeToken = (token: string) => token.replace(/~1/g, '/').replace(/~0/g, '~');

/** Resolves an RFC 6901 JSON Pointer in a document; `found: false` when any step is missing. */
export function resolvePointer(document: unknown, pointer: string): { found: boolean; value?: unknown } {
  if (pointer === '') return { found: true, value: document };
  let node: unknown = document;
  for (const raw of pointer.slice(1).split('/')) {
    const key = unescapeToken(raw);
    if (Array.isArray(node) && /^(0|[1-9][0-9]*)$/.test(key) && Number(key) < node.length) node = node[Number(key)];
    else if (node !== null && typeof node === 'object' && !Array.isArray(node) && Object.prototype.hasOwnProperty.call(node, key))
      node = (node as Record<string, unknown>)[key];
    else return { found: false };
  }
  return { found: true, value: node };
}
