import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@switchboard/server';
import { configProblems } from '../support/config-problems.js';

describe('configuration from the environment', () => {
  it('starts on the defaults when nothing is set, and takes an empty variable as not set', () => {
    const config = loadConfig({ PORT: '', LOG_LEVEL: '', RATE_LIMIT_READ: '' });
    expect(config.port).toBe(3000);
    expect(config.logLevel).toBe('info');
    expect(config.rateLimits).toEqual({ read: 600, write: 120, run: 60, costly: 10, llm: 600 });
    expect(config.database).toEqual({ client: 'sqlite', filename: './data/switchboard.db' });
    expect(config.webhooks.policy).toEqual({ allowPrivate: false, allowList: [] });
  });

  it('WORKERS: one process on SQLite, one per core in production on PostgreSQL, more than one refused on SQLite', () => {
    const pg = { DATABASE_URL: 'postgres://127.0.0.1/db', SWITCHBOARD_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') };
    expect(loadConfig({}).workers).toBe(1);
    expect(loadConfig({ NODE_ENV: 'production' }).workers).toBe(1);
    expect(loadConfig(pg).workers).toBe(1);
    expect(loadConfig({ ...pg, NODE_ENV: 'production' }).workers).toBe(availableParallelism());
    expect(loadConfig({ ...pg, NODE_ENV: 'production', WORKERS: '3' }).workers).toBe(3);
    expect(loadConfig({ WORKERS: '1' }).workers).toBe(1);
    expect(configProblems({ WORKERS: '2' })).toEqual([expect.stringMatching(/^ {2}WORKERS: more than 1 needs PostgreSQL/)]);
    expect(configProblems({ ...pg, WORKERS: '0' })).toEqual(['  WORKERS: must be an integer from 1 to 256']);
  });

  it('reads numbers written with spaces or an exponent, and fractions where a fraction is allowed', () => {
    const config = loadConfig({ PORT: ' 8080 ', BODY_LIMIT_BYTES: '2e6', SSE_PING_SECONDS: '0.25', WEBHOOK_ALLOWED_ADDRESSES: '10.0.0.1, 192.168.0.0/16' });
    expect(config.port).toBe(8080);
    expect(config.bodyLimitBytes).toBe(2_000_000);
    expect(config.ssePingSeconds).toBe(0.25);
    expect(config.webhooks.policy.allowList).toEqual(['10.0.0.1', '192.168.0.0/16']);
  });

  it('names every bad variable at once, each with what it must be', () => {
    expect(
      configProblems({
        NODE_ENV: 'prod',
        PORT: '80abc',
        RATE_LIMIT_READ: '1.5',
        LEASE_SECONDS: '0x10',
        WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'yes',
        WEBHOOK_ALLOWED_ADDRESSES: '10.0.0.1,not-an-address',
        DATABASE_URL: 'mysql://db',
      }),
    ).toEqual([
      '  NODE_ENV: must be one of: development, test, production',
      '  PORT: must be an integer from 0 to 65535',
      '  DATABASE_URL: must be postgres://..., sqlite:<path> or a file path',
      '  RATE_LIMIT_READ: must be an integer from 1 to 10000000',
      '  LEASE_SECONDS: must be an integer from 5 to 3600',
      '  WEBHOOK_ALLOW_PRIVATE_ADDRESSES: must be one of: true, false',
      '  WEBHOOK_ALLOWED_ADDRESSES: must be a comma-separated list of IP addresses or CIDR ranges',
    ]);
  });

  it('SHUTDOWN_GRACE_SECONDS and TRUST_PROXY_HOPS: 30 s and no proxy by default, refused out of range', () => {
    expect(loadConfig({})).toMatchObject({ shutdownGraceSeconds: 30, trustProxyHops: 0 });
    expect(loadConfig({ SHUTDOWN_GRACE_SECONDS: '90', TRUST_PROXY_HOPS: '1' })).toMatchObject({ shutdownGraceSeconds: 90, trustProxyHops: 1 });
    expect(configProblems({ SHUTDOWN_GRACE_SECONDS: '0', TRUST_PROXY_HOPS: '1.5' })).toEqual([
      '  SHUTDOWN_GRACE_SECONDS: must be an integer from 1 to 3600',
      '  TRUST_PROXY_HOPS: must be an integer from 0 to 10',
    ]);
  });

  it('refuses a number out of its range, and a fraction where an integer is needed', () => {
    expect(configProblems({ SSE_PING_SECONDS: '0.01', TRANSCRIPTION_CONCURRENCY: '65', PORT: '-1' })).toEqual([
      '  PORT: must be an integer from 0 to 65535',
      '  TRANSCRIPTION_CONCURRENCY: must be an integer from 1 to 64',
      '  SSE_PING_SECONDS: must be a number from 0.05 to 300',
    ]);
  });

  it('never repeats a secret it refuses', () => {
    const key = 'not-a-key-but-secret-looking-0123456789';
    const message = configProblems({ SWITCHBOARD_MASTER_KEY: key, OPENAI_API_KEY: `${key} x`, SWITCHBOARD_BOOTSTRAP_KEY: key }).join('\n');
    expect(message).toContain('SWITCHBOARD_MASTER_KEY: must be 32 random bytes');
    expect(message).toContain('OPENAI_API_KEY: must be printable ASCII without spaces');
    expect(message).toContain('SWITCHBOARD_BOOTSTRAP_KEY: must be sbk_');
    expect(message).not.toContain(key);
  });

  it('refuses a value longer than its limit', () => {
    expect(configProblems({ OPENAI_API_KEY: 'k'.repeat(4001) })).toEqual(['  OPENAI_API_KEY: must be at most 4000 characters']);
  });

  it('reads the connection providers file, and refuses a bad one naming each problem', () => {
    const file = (content: string) => {
      const path = join(mkdtempSync(join(tmpdir(), 'sb-config-')), 'providers.json');
      writeFileSync(path, content);
      return path;
    };
    const good = file(JSON.stringify([{ id: 'crm', authType: 'api_key', apiBaseUrl: 'https://crm.example.com/api', allowedHosts: ['crm.example.com'] }]));
    const { connections } = loadConfig({ SWITCHBOARD_CONNECTION_PROVIDERS_FILE: good, SWITCHBOARD_PUBLIC_URL: 'https://sb.example.com/' });
    expect(connections.providers).toEqual([
      {
        id: 'crm',
        object: 'connection_provider',
        name: 'crm',
        authType: 'api_key',
        apiBaseUrl: 'https://crm.example.com/api',
        allowedHosts: ['crm.example.com'],
        oauth2: null,
        apiKey: { header: 'Authorization', prefix: 'Bearer ' },
      },
    ]);
    expect(connections.publicUrl).toBe('https://sb.example.com');
    const bad = file(JSON.stringify([{ id: 'Bad Id', authType: 'oauth2', apiBaseUrl: 'ftp://x', allowedHosts: [] }]));
    expect(configProblems({ SWITCHBOARD_CONNECTION_PROVIDERS_FILE: bad })).toEqual([
      '  SWITCHBOARD_CONNECTION_PROVIDERS_FILE [0].id: must match /^[a-z][a-z0-9_-]{0,63}$/',
      '  SWITCHBOARD_CONNECTION_PROVIDERS_FILE [0].apiBaseUrl: must be an http:// or https:// URL without user name, password or fragment',
      '  SWITCHBOARD_CONNECTION_PROVIDERS_FILE [0].allowedHosts: must name at least one host the proxy may call',
      '  SWITCHBOARD_CONNECTION_PROVIDERS_FILE [0].oauth2: required for authType oauth2',
      '  SWITCHBOARD_CONNECTION_PROVIDERS_FILE [0].oauth2.authorizeUrl: must be an http:// or https:// URL without user name, password or fragment',
      '  SWITCHBOARD_CONNECTION_PROVIDERS_FILE [0].oauth2.tokenUrl: must be an http:// or https:// URL without user name, password or fragment',
    ]);
    expect(configProblems({ SWITCHBOARD_CONNECTION_PROVIDERS_FILE: file('not json') })[0]).toMatch(/cannot read .* as JSON/);
  });
});
