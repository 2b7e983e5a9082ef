import type { ValidateFunction } from 'ajv/dist/2020.js';
import { createAjv } from '../../spec/ajv.js';
import { bodyIssues } from '../../spec/validators.js';
import type { ValidationIssue } from '../../problems/problems.js';

/**
 * A JSON Schema a run sent (an approval's payload or response schema), compiled by its own Ajv
 * instance: a schema's `$id` cannot collide with another's, and nothing stays cached once it is
 * used (schemas are compiled when asked and when decided, both rare). A `$ref` to anything outside
 * the schema cannot be resolved, so a schema can make the server fetch nothing.
 */
export function compileUserSchema(schema: object): { validate: ValidateFunction } | { error: string } {
  try {
    return { validate: createAjv({ forParameters: false }).compile(schema) };
  } catch (err) {
    return { error: err instanceof Error ? err.message.slice(0, 500) : 'it does not compile.' };
  }
}

/** Why `value` does not fit, each issue pointing into the request at `at`. */
export function schemaIssues(validate: ValidateFunction, value: unknown, at: string, what: string): ValidationIssue[] {
  if (validate(value)) return [];
  return bodyIssues(validate.errors).map((issue) => ({
    pointer: `${at}${issue.pointer ?? ''}`,
    detail: `The ${what} does not fit its schema: ${issue.detail}`,
  }));
}
