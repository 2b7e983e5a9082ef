import { Cron } from 'croner';
import { ProblemError, type ValidationIssue } from '../../problems/problems.js';

function validTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** The pattern for a cron expression (5 fields, or 6 with seconds) in an IANA time zone; 422 naming the bad field otherwise. */
export function cronFor(cron: string, timezone: string): Cron {
  const errors: ValidationIssue[] = [];
  if (!validTimeZone(timezone)) errors.push({ pointer: '/timezone', in: 'body', detail: `"${timezone}" is not an IANA time zone.` });
  let pattern: Cron | undefined;
  try {
    pattern = new Cron(cron, { timezone: errors.length ? 'UTC' : timezone, paused: true, mode: '5-or-6-parts' });
    if (!pattern.nextRun(new Date())) errors.push({ pointer: '/cron', in: 'body', detail: `"${cron}" never matches a future time.` });
  } catch (err) {
    // croner prefixes its messages with its class name, which means nothing to the client.
    const reason = (err as Error).message.replace(/^CronPattern:\s*/, '').replace(/\.?$/, '.');
    errors.push({ pointer: '/cron', in: 'body', detail: `"${cron}" is not a valid cron expression: ${reason}` });
  }
  if (errors.length) throw new ProblemError('validation-error', errors.map((e) => e.detail).join(' '), { errors });
  return pattern!;
}

/** The first due time strictly after `after`, or null when the expression has no more. */
export const nextDue = (cron: string, timezone: string, after: Date): string | null => {
  const next = new Cron(cron, { timezone, paused: true, mode: '5-or-6-parts' }).nextRun(after);
  return next ? next.toISOString() : null;
};
