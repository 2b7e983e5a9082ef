import type { Command } from 'commander';
import { Switchboard } from '@switchboard/sdk';
import { readConfig, type ConfigFile, type Profile } from './config.js';
import { CliError } from './errors.js';
import { Output } from './output.js';

export const DEFAULT_BASE_URL = 'http://127.0.0.1:3000';

/** The root command's options, which every command accepts. */
export type GlobalOptions = { baseUrl?: string; apiKey?: string; appId?: string; profile?: string; json?: boolean; color?: boolean };

export type Source = 'flag' | 'env' | 'profile' | 'default';

export type Settings = {
  profile: string;
  baseUrl: string;
  apiKey: string | undefined;
  appId: string | undefined;
  sources: { baseUrl: Source; apiKey: Source | undefined; appId: Source | undefined };
};

const env = (name: string) => process.env[name] || undefined;

/** What a command needs: resolved settings (flag > environment > profile > default), the client, the output. */
export class Context {
  private config: ConfigFile | undefined;

  constructor(private readonly program: Command) {}

  get globals(): GlobalOptions {
    return this.program.opts<GlobalOptions>();
  }

  get out(): Output {
    return new Output(Boolean(this.globals.json), this.globals.color !== false);
  }

  /** The configuration file, read once. */
  configFile(): ConfigFile {
    return (this.config ??= readConfig());
  }

  get profileName(): string {
    return this.globals.profile || env('SWITCHBOARD_PROFILE') || 'default';
  }

  storedProfile(): Profile | undefined {
    const { profiles } = this.configFile();
    // Own entries only: a profile named `constructor` or `toString` is not one stored.
    return Object.hasOwn(profiles, this.profileName) ? profiles[this.profileName] : undefined;
  }

  settings(): Settings {
    const g = this.globals;
    let profile: Profile | undefined;
    const fromProfile = () => (profile ??= this.storedProfile() ?? {});
    const pick = (flag: string | undefined, variable: string, key: keyof Profile): [string | undefined, Source | undefined] => {
      if (flag) return [flag, 'flag'];
      const fromEnv = env(variable);
      if (fromEnv) return [fromEnv, 'env'];
      const stored = fromProfile()[key];
      return stored ? [stored, 'profile'] : [undefined, undefined];
    };
    const [baseUrl, baseUrlSource] = pick(g.baseUrl, 'SWITCHBOARD_BASE_URL', 'baseUrl');
    const [apiKey, apiKeySource] = pick(g.apiKey, 'SWITCHBOARD_API_KEY', 'apiKey');
    const [appId, appIdSource] = pick(g.appId, 'SWITCHBOARD_APP_ID', 'appId');
    return {
      profile: this.profileName,
      baseUrl: (baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, ''),
      apiKey,
      appId,
      sources: { baseUrl: baseUrlSource ?? 'default', apiKey: apiKeySource, appId: appIdSource },
    };
  }

  /** Settings that include a key, or a clear error telling how to give one. */
  authenticated(): Settings & { apiKey: string } {
    const settings = this.settings();
    if (!settings.apiKey) {
      throw new CliError(
        `No API key: run "switchboard login${settings.profile === 'default' ? '' : ` --profile ${settings.profile}`}", or give --api-key or SWITCHBOARD_API_KEY.`,
      );
    }
    return settings as Settings & { apiKey: string };
  }

  /** A client with the resolved base URL, key and application; acting for `endUser` when given (Switchboard-User). */
  client(endUser?: string): Switchboard {
    const { baseUrl, apiKey, appId } = this.authenticated();
    return new Switchboard({ baseUrl, apiKey, appId, endUser });
  }
}

/** The first 12 characters of a key, which the API also shows as its prefix: enough to recognise it. */
export const keyPrefix = (key: string) => `${key.slice(0, 12)}...`;
