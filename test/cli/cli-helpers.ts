import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

const require = createRequire(import.meta.url);
/** The `switchboard` command: the committed bin, which loads the built CLI. */
export const CLI = require.resolve('@switchboard/cli/package.json').replace(/package\.json$/, 'bin/switchboard.js');

export type CliResult = { code: number | null; stdout: string; stderr: string };

/** Secrets that must never be printed: every run of the CLI is checked against them. */
const secrets = new Set<string>();
export const keepSecret = (secret: string) => void secrets.add(secret);

export const expectNoSecrets = (...outputs: string[]) => {
  for (const secret of secrets) for (const output of outputs) expect(output, 'a secret was printed').not.toContain(secret);
};

/** A temporary home (and config directory) for one test, never the real one. */
export function tempHome(): { home: string; env: Record<string, string>; configFile: string; cleanup(): void } {
  const home = mkdtempSync(join(tmpdir(), 'switchboard-cli-'));
  const xdg = join(home, 'xdg');
  return {
    home,
    env: { HOME: home, XDG_CONFIG_HOME: xdg },
    configFile: join(xdg, 'switchboard', 'config.json'),
    cleanup: () => rmSync(home, { recursive: true, force: true }),
  };
}

/** The environment of a child: PATH, the given variables and nothing else (no SWITCHBOARD_* of ours). */
const childEnv = (env: Record<string, string>) => ({ PATH: process.env.PATH ?? '', ...env });

/** Runs `switchboard <args>` to its end; stdin gets `input` (or nothing). */
export function cli(args: string[], options: { env: Record<string, string>; input?: string; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: childEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 25_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      expectNoSecrets(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A long-running `switchboard` process (the built-in runner), with its output so far. */
export function startCli(args: string[], env: Record<string, string>): { child: ChildProcess; output: () => string; stop(): Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const code = await exited;
      expectNoSecrets(output);
      return code;
    },
  };
}

/** The JSON a command printed. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the JSON's type, as a cast would.
export const json = <T = any>(result: CliResult): T => {
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
};

export const REQUEST_ID = /\(request req_[0-7][0-9a-hjkmnp-tv-z]{25}\)/;
