import { expect } from 'vitest';
import { ConfigError, loadConfig } from '@switchboard/server';

/** The lines a refused configuration names its problems in (one per variable), or a failure when it is accepted. */
export function configProblems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message.split('\n').slice(1);
  }
  throw new Error('the configuration was accepted');
}
