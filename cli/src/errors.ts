import { CommanderError } from 'commander';
import { SwitchboardError, type Problem, type ValidationIssue } from '@switchboard/sdk';

/** A failure the CLI reports as one line, with its exit code (1 by default). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** A mistake in the command line: exit code 2, as for commander's own usage errors. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** The lines describing a problem: `switchboard: <title>: <detail> (request <id>)`, then one per field error. */
export function problemLines(problem: Partial<Problem> | undefined, fallback: string, requestId: string | undefined): string[] {
  const summary = problem?.title ? `${problem.title}${problem.detail ? `: ${problem.detail}` : ''}` : fallback;
  const id = problem?.requestId ?? requestId;
  return [`switchboard: ${summary}${id ? ` (request ${id})` : ''}`, ...(problem?.errors ?? []).map(fieldLine)];
}

const fieldLine = (issue: ValidationIssue) => {
  const where = issue.pointer !== undefined ? issue.pointer || '/' : (issue.parameter ?? '');
  return `  ${where ? `${where}: ` : ''}${issue.detail}`;
};

/** A message with the reasons behind it (`fetch failed` says little; `connect ECONNREFUSED ...` does). */
export function withCauses(err: Error): string {
  let message = err.message;
  let cause = err.cause;
  for (let depth = 0; cause instanceof Error && depth < 4; depth++, cause = cause.cause) {
    if (!message.includes(cause.message)) message += `: ${cause.message}`;
  }
  return message;
}

/** Prints an error the way every command does and returns the exit code to use. */
export function reportError(err: unknown, write: (line: string) => void): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // commander already printed it
  if (err instanceof SwitchboardError) {
    for (const line of problemLines(err.problem, withCauses(err), err.requestId)) write(line);
    return 1;
  }
  if (err instanceof CliError) {
    write(`switchboard: ${err.message}`);
    return err.exitCode;
  }
  write(`switchboard: ${err instanceof Error ? err.message : String(err)}`);
  return 1;
}
