import type { Ajv2020, ValidateFunction } from 'ajv/dist/2020.js';
import type { OutgoingHttpHeaders } from 'node:http';
import { escapeToken } from '../util/json-pointer.js';
import type { OpenApiDocument } from './load-spec.js';
import { resolveRef, type OperationSpec } from './operations.js';

/**
 * Headers of the transport, not of the contract: set by Node, Koa, compression or CORS, varying
 * with the request and the connection, so the spec does not describe them.
 */
const TRANSPORT = new Set(['content-type', 'content-length', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive', 'date', 'vary']);
const isTransport = (name: string) => TRANSPORT.has(name) || name.startsWith('access-control-');

/** What is wrong with a response's headers, one sentence each; empty when they match the contract. */
export type ResponseHeaderCheck = (status: number, headers: OutgoingHttpHeaders) => string[];

type DeclaredHeader = { name: string; required: boolean; validate: ValidateFunction };

/**
 * The header check of every operation, compiled at start: each declared header's presence
 * (`required`) and value (its schema, values coerced from the string as for parameters), and no
 * header the operation does not declare. Header schemas are few and shared, so each is compiled once,
 * by the parameters' Ajv (which coerces as headers need), from `ref`, a pointer into the document it holds.
 */
export function compileResponseHeaderChecks(
  ajv: Ajv2020,
  ref: (pointer: string) => { $ref: string },
  doc: OpenApiDocument,
  operations: OperationSpec[],
): Map<string, ResponseHeaderCheck> {
  const compiled = new Map<string, ValidateFunction>();
  const compile = (pointer: string) => compiled.get(pointer) ?? compiled.set(pointer, ajv.compile(ref(pointer))).get(pointer)!;

  const checks = new Map<string, ResponseHeaderCheck>();
  for (const op of operations) {
    const byStatus = new Map<string, DeclaredHeader[]>();
    const operation = resolveRef(doc, { $ref: `#${op.pointer}` }, op.pointer).value;
    for (const [status, raw] of Object.entries(operation.responses as Record<string, unknown>)) {
      const response = resolveRef(doc, raw, `${op.pointer}/responses/${status}`);
      const headers = Object.entries((response.value.headers as Record<string, unknown> | undefined) ?? {}).map(([name, rawHeader]) => {
        const header = resolveRef(doc, rawHeader, `${response.pointer}/headers/${escapeToken(name)}`);
        return { name, required: header.value.required === true, validate: compile(`${header.pointer}/schema`) };
      });
      byStatus.set(
        status,
        headers.filter((h) => !isTransport(h.name.toLowerCase())),
      );
    }
    checks.set(op.operationId, (status, sent) => {
      const declared = byStatus.get(String(status));
      // An undeclared status is the status check's to report.
      if (!declared) return [];
      const problems: string[] = [];
      for (const header of declared) {
        const value = sent[header.name.toLowerCase()];
        if (value === undefined) {
          if (header.required) problems.push(`required header ${header.name} is missing`);
        } else if (!header.validate(Array.isArray(value) ? value.join(', ') : String(value))) {
          problems.push(`header ${header.name} ${JSON.stringify(String(value))} ${header.validate.errors?.map((e) => e.message).join(', ')}`);
        }
      }
      const names = new Set(declared.map((h) => h.name.toLowerCase()));
      for (const name of Object.keys(sent)) {
        if (!names.has(name) && !isTransport(name)) problems.push(`header ${name} is not declared`);
      }
      return problems;
    });
  }
  return checks;
}
