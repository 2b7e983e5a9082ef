import { isDeepStrictEqual } from 'node:util';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import type { Executor } from '../../db/database.js';
import { ProblemError, type ValidationIssue } from '../../problems/problems.js';
import { fromJsonColumn } from '../../util/json-column.js';
import { compileUserSchema, schemaIssues } from '../approvals/user-schemas.js';

type JsonObject = Record<string, unknown>;

/** What decides a run's input: the version's schema, and for an installed agent the editor's defaults and locked fields. */
export type InputRules = { agentId: string; version: number; schema: JsonObject | null; defaults: JsonObject; locked: string[] };

/** The agent fields the rules come from (an Agent, or the columns a background job reads). */
export type InputSource = { id: string; version: number; inputSchema: JsonObject | null; installationId: string | null };

/** A run's input (JsonPayload) has at most this many members, defaults included. */
const MAX_INPUT_MEMBERS = 1000;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The author's defaults: the `default` of each top-level property of the schema. */
export function schemaDefaults(schema: JsonObject | null): JsonObject {
  const properties = schema?.properties;
  if (!isObject(properties)) return {};
  return Object.fromEntries(Object.entries(properties).flatMap(([name, sub]) => (isObject(sub) && Object.hasOwn(sub, 'default') ? [[name, sub.default]] : [])));
}

/**
 * A version's schema never changes, so its compiled validator is kept (by agent and version) for
 * the runs that follow; the oldest goes first past a few hundred agents.
 */
const validators = new Map<string, ValidateFunction>();
const MAX_VALIDATORS = 500;

function validatorOf(rules: InputRules): ValidateFunction | null {
  if (!rules.schema) return null;
  const key = `${rules.agentId}@${String(rules.version)}`;
  let validate = validators.get(key);
  if (!validate) {
    const compiled = compileUserSchema(rules.schema);
    // A schema is compiled before it is saved (inputSchemaIssues); one that no longer compiles
    // (a newer Ajv) checks nothing rather than refusing every run.
    if ('error' in compiled) return null;
    validate = compiled.validate;
    if (validators.size >= MAX_VALIDATORS) validators.delete(validators.keys().next().value!);
    validators.set(key, validate);
  }
  return validate;
}

/** Why a schema cannot be an agent's input schema: it must compile and describe an object. */
export function inputSchemaIssues(schema: JsonObject | null, pointer: string): ValidationIssue[] {
  if (!schema) return [];
  const compiled = compileUserSchema(schema);
  if ('error' in compiled) return [{ pointer, in: 'body', detail: `The input schema does not compile: ${compiled.error}` }];
  if (schema.type !== undefined && schema.type !== 'object')
    return [{ pointer: `${pointer}/type`, in: 'body', detail: 'A run input is an object: the input schema must have type "object".' }];
  return [];
}

export async function inputRulesOf(db: Executor, agent: InputSource): Promise<InputRules> {
  const base = { agentId: agent.id, version: agent.version, schema: agent.inputSchema };
  if (!agent.installationId) return { ...base, defaults: {}, locked: [] };
  const row = await db('installations')
    .where({ agent_id: agent.id })
    .first<{ input_defaults: string; locked_inputs: string } | undefined>('input_defaults', 'locked_inputs');
  return { ...base, defaults: fromJsonColumn(row?.input_defaults, {}), locked: fromJsonColumn(row?.locked_inputs, []) };
}

/** The value each locked field takes: the editor's default, else the author's. */
function lockedValues(rules: InputRules): JsonObject {
  const author = schemaDefaults(rules.schema);
  return Object.fromEntries(
    rules.locked.flatMap((name) =>
      Object.hasOwn(rules.defaults, name) ? [[name, rules.defaults[name]]] : Object.hasOwn(author, name) ? [[name, author[name]]] : [],
    ),
  );
}

/**
 * The input a run starts with, in four layers, each over the one before: the schema's defaults
 * (the author's), the installation's (the editor's), then `given` (a schedule's values, or a run's
 * or a trigger's input). A locked field keeps its value: setting it to another is refused (400
 * `locked-input-field`), or, for a run nobody waits on (`override`, a schedule firing), overridden.
 * The result must fit the schema (422, each issue pointing under `at`).
 */
export function resolveInput(rules: InputRules, given: JsonObject, at: string, mode: 'refuse' | 'override' = 'refuse'): JsonObject {
  const locked = lockedValues(rules);
  if (mode === 'refuse') {
    const errors: ValidationIssue[] = Object.keys(locked)
      .filter((name) => Object.hasOwn(given, name) && !isDeepStrictEqual(given[name], locked[name]))
      .map((name) => ({ pointer: `${at}/${name}`, in: 'body', detail: `The input field "${name}" is locked by the agent's installation; leave it out.` }));
    if (errors.length) throw new ProblemError('locked-input-field', errors.map((e) => e.detail).join(' '), { errors });
  }
  const resolved = { ...schemaDefaults(rules.schema), ...rules.defaults, ...given, ...locked };
  if (Object.keys(resolved).length > MAX_INPUT_MEMBERS) {
    const detail = `With its defaults the input would have ${String(Object.keys(resolved).length)} fields; a run's input has at most ${String(MAX_INPUT_MEMBERS)}.`;
    throw new ProblemError('validation-error', detail, { errors: [{ pointer: at, in: 'body', detail }] });
  }
  const validate = validatorOf(rules);
  if (validate) {
    const errors: ValidationIssue[] = schemaIssues(validate, resolved, at, 'input').map((issue) => ({ ...issue, in: 'body' }));
    if (errors.length) throw new ProblemError('validation-error', errors.map((e) => e.detail).join(' '), { errors });
  }
  return resolved;
}

/** Refuses fields that will always be set (a trigger's input mapping) when the installation locks them. */
export function assertUnlocked(rules: InputRules, names: string[], at: string): void {
  const errors: ValidationIssue[] = names
    .filter((name) => rules.locked.includes(name))
    .map((name) => ({ pointer: `${at}/${name}`, in: 'body', detail: `The input field "${name}" is locked by the agent's installation; it cannot be mapped.` }));
  if (errors.length) throw new ProblemError('locked-input-field', errors.map((e) => e.detail).join(' '), { errors });
}

/** Why an installation's defaults do not fit the schema (what a run must still give, `required`, aside). */
export function defaultsIssues(schema: JsonObject | null, defaults: JsonObject, pointer: string): ValidationIssue[] {
  if (!schema) return [];
  const compiled = compileUserSchema(schema);
  if ('error' in compiled || compiled.validate({ ...schemaDefaults(schema), ...defaults })) return [];
  return (compiled.validate.errors ?? [])
    .filter((e) => e.keyword !== 'required' || e.instancePath !== '')
    .map((e) => ({
      pointer: `${pointer}${e.instancePath}`,
      in: 'body' as const,
      detail: `The input defaults do not fit the input schema: ${e.instancePath || 'the object'} ${e.message ?? 'is invalid'}.`,
    }));
}
