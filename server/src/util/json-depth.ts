import { escapeToken } from './json-pointer.js';

/**
 * The JSON Pointer of the first value nested deeper than `maxDepth` containers, or undefined.
 * Iterative: the document may be nested far deeper than the call stack allows, which is what the
 * check is for (JSON.parse accepts such documents, JSON.stringify then overflows on them).
 */
export function pointerBeyondDepth(document: unknown, maxDepth: number): string | undefined {
  const stack: { node: unknown; depth: number; pointer: string }[] = [{ node: document, depth: 0, pointer: '' }];
  while (stack.length) {
    const { node, depth, pointer } = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth >= maxDepth) return pointer;
    for (const [key, child] of Object.entries(node)) {
      stack.push({ node: child, depth: depth + 1, pointer: `${pointer}/${escapeToken(key)}` });
    }
  }
  return undefined;
}
