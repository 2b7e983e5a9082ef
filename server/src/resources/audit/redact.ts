/** What a redacted value reads as in the audit log. */
export const REDACTED = '[redacted]';

/** Names of fields that carry a credential or a secret when they hold a string (a `fencingToken` is a number). */
const SECRET_NAME = /^(secret|token|password|credential|apiKey|authorization)$|(Secret|Token|Password|Credential)$/;

/** Every credential Switchboard issues starts with one of these; a value that does is a credential wherever it sits. */
const CREDENTIAL_VALUE = /^(sbk|sbp|sbs|sbr|sbrt|sbe|sbi|whsec)_/;

/**
 * A copy of a JSON value with every secret replaced by `[redacted]`: by the name of its field, or by
 * the shape of the value itself, so a credential echoed in a field of any name (metadata, a run's
 * input) never reaches the audit log.
 */
export function redact(value: unknown, name?: string): unknown {
  if (typeof value === 'string') return (name !== undefined && SECRET_NAME.test(name)) || CREDENTIAL_VALUE.test(value) ? REDACTED : value;
  if (Array.isArray(value)) return value.map((item) => redact(item));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, redact(item, key)]));
  }
  return value;
}
