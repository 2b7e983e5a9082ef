import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { InvalidArgumentError } from 'commander';
import { CliError, UsageError } from './errors.js';

/** Everything on stdin, as text. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A value given inline, as `@file`, or as `-` (stdin). */
export async function readArgument(value: string, what: string): Promise<string> {
  if (value === '-') return readStdin();
  if (value.startsWith('@')) {
    try {
      return readFileSync(value.slice(1), 'utf8');
    } catch (err) {
      throw new UsageError(`Cannot read ${what} from ${value.slice(1)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return value;
}

/** A JSON object given inline, as `@file` or as `-`. */
export async function readJsonObject(value: string, what: string): Promise<Record<string, unknown>> {
  const raw = await readArgument(value, what);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new UsageError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`${what} must be a JSON object.`);
  return parsed as Record<string, unknown>;
}

/** Commander parser for repeatable options (`--label a --label b`, or `--label a,b`). */
export const collect = (value: string, previous: string[] = []) => [
  ...previous,
  ...value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean),
];

/** Commander parser for repeatable `key=value` options (`--metadata ticket=T-42`), into an object. */
export const metadataPair = (value: string, previous: Record<string, string> = {}) => {
  const at = value.indexOf('=');
  if (at < 1) throw new InvalidArgumentError('must be key=value');
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
};

export const integer =
  (min: number, max: number) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return n;
  };

export const oneOf =
  <T extends string>(...allowed: T[]) =>
  (value: string): T => {
    if (!(allowed as string[]).includes(value)) throw new InvalidArgumentError(`must be one of: ${allowed.join(', ')}`);
    return value as T;
  };

/** Why `value` is not an http(s) base URL, or undefined when it is one. */
export function baseUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not a URL: give one such as http://127.0.0.1:3000 or https://switchboard.example.com`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `"${value}" is not an http:// or https:// URL`;
  if (url.search || url.hash || url.username || url.password) return `"${value}" must be the server's address alone, without a query, fragment or credentials`;
  return undefined;
}

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- isTTY is undefined, not false, off a terminal (@types/node types it boolean).
export const interactive = () => Boolean(process.stdin.isTTY && process.stderr.isTTY);

/** Asks a question on stderr; the answer, or `fallback` when empty. */
export function ask(question: string, fallback?: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  return new Promise((resolve, reject) => {
    rl.once('SIGINT', () => {
      rl.close();
      reject(new CliError('Cancelled.', 130));
    });
    rl.question(`${question}${fallback ? ` [${fallback}]` : ''}: `, (answer) => {
      rl.close();
      resolve(answer.trim() || fallback || '');
    });
  });
}

/** Asks for a secret without echoing it. */
export function askSecret(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(`${question}: `);
  return new Promise((resolve, reject) => {
    let answer = '';
    const done = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(answer.trim());
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new CliError('Cancelled.', 130));
        if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
        else if (ch >= ' ') answer += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}
