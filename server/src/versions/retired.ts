import type { OpenApiDocument } from '../spec/load-spec.js';
import { extractOperations, type OperationSpec } from '../spec/operations.js';
import { compileValidators, type OperationValidators } from '../spec/validators.js';
import type { ApiVersionEntry } from './change.js';

/**
 * The operations a version removed, as the versions before it have them: each from the document of
 * the version just before its change (the newest lowered through every change down to it), with
 * that document's validators, marked with the version that retired it.
 */
export function retiredOperations(
  entries: readonly ApiVersionEntry[],
  newestDocument: OpenApiDocument,
): { operations: OperationSpec[]; validators: Map<string, OperationValidators> } {
  const operations: OperationSpec[] = [];
  const validators = new Map<string, OperationValidators>();
  const newestFirst = [...entries].reverse();
  newestFirst.forEach((entry, i) => {
    for (const change of entry.changes) {
      if (!change.retires?.length) continue;
      const document = structuredClone(newestDocument);
      for (const later of newestFirst.slice(0, i + 1)) {
        for (const c of [...later.changes].reverse()) {
          c.documentDown(document);
          if (c === change) break;
        }
      }
      const retired = extractOperations(document)
        .filter((op) => change.retires!.includes(op.operationId))
        .map((op) => ({ ...op, retiredIn: entry.version }));
      operations.push(...retired);
      for (const [id, v] of compileValidators(document, retired)) validators.set(id, v);
    }
  });
  return { operations, validators };
}
