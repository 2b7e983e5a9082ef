import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './errors.js';

/** What `switchboard login` stores for one profile. */
export type Profile = { baseUrl?: string; apiKey?: string; appId?: string };
export type ConfigFile = { profiles: Record<string, Profile> };

/**
 * `$XDG_CONFIG_HOME/switchboard/config.json`, else `~/.config/switchboard/config.json`; on Windows
 * `%APPDATA%\switchboard\config.json`.
 */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (process.platform === 'win32') return join(env.APPDATA || join(homedir(), 'AppData', 'Roaming'), 'switchboard', 'config.json');
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'switchboard', 'config.json');
}

/** An object whose `profiles`, when there, is an object too. */
const isConfigObject = (value: unknown): value is Partial<ConfigFile> =>
  typeof value === 'object' && value !== null && (!('profiles' in value) || typeof value.profiles === 'object');

export function readConfig(path = configPath()): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: Object.create(null) as Record<string, Profile> };
    throw new CliError(`Cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isConfigObject(parsed)) throw new Error('not a configuration object');
    // Without a prototype, a profile named `__proto__` or `constructor` is stored and read like any other.
    return { ...parsed, profiles: Object.assign(Object.create(null) as Record<string, Profile>, parsed.profiles) };
  } catch (err) {
    throw new CliError(`${path} is not a valid configuration file (${(err as Error).message}); fix or delete it, then run "switchboard login" again.`);
  }
}

/** Writes the file with mode 0600 in a directory with mode 0700, replacing it atomically. */
export function writeConfig(config: ConfigFile, path = configPath()): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    chmodSync(temporary, 0o600);
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw new CliError(`Cannot write ${path}: ${(err as Error).message}`);
  }
}
