import { readFileSync } from 'node:fs';
import type { components } from '../generated/openapi.js';

export type ConnectionProvider = components['schemas']['ConnectionProvider'];

const PROVIDER_ID = /^[a-z][a-z0-9_-]{0,63}$/;
const HOST = /^[a-z0-9.-]{1,253}(:\d{1,5})?$/;
const SCOPE = /^[\x21-\x7e]{1,200}$/;
const HEADER = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An http(s) URL without credentials or fragment; `where` names it in the message. */
function url(value: unknown, where: string, problems: string[]): string {
  if (typeof value === 'string' && /^https?:\/\//.test(value) && URL.canParse(value) && value.length <= 2000) {
    const parsed = new URL(value);
    if (!parsed.username && !parsed.password && !parsed.hash) return value;
  }
  problems.push(`${where}: must be an http:// or https:// URL without user name, password or fragment`);
  return '';
}

function strings(value: unknown, where: string, pattern: RegExp, problems: string[], max = 64): string[] {
  if (value === undefined) return [];
  if (Array.isArray(value) && value.length <= max && value.every((v) => typeof v === 'string' && pattern.test(v))) return value as string[];
  problems.push(`${where}: must be a list of at most ${max} entries matching ${String(pattern)}`);
  return [];
}

function provider(raw: unknown, at: string, problems: string[]): ConnectionProvider | undefined {
  if (!isObject(raw)) {
    problems.push(`${at}: must be an object`);
    return undefined;
  }
  const id = typeof raw.id === 'string' && PROVIDER_ID.test(raw.id) ? raw.id : (problems.push(`${at}.id: must match ${String(PROVIDER_ID)}`), '');
  const authType = raw.authType === 'oauth2' || raw.authType === 'api_key' || raw.authType === 'basic' ? raw.authType : undefined;
  if (!authType) problems.push(`${at}.authType: must be oauth2, api_key or basic`);
  const apiBaseUrl = url(raw.apiBaseUrl, `${at}.apiBaseUrl`, problems);
  const allowedHosts = strings(raw.allowedHosts, `${at}.allowedHosts`, HOST, problems, 32).map((h) => h.toLowerCase());
  if (!allowedHosts.length) problems.push(`${at}.allowedHosts: must name at least one host the proxy may call`);
  let oauth2: ConnectionProvider['oauth2'] = null;
  if (authType === 'oauth2') {
    const o = isObject(raw.oauth2) ? raw.oauth2 : (problems.push(`${at}.oauth2: required for authType oauth2`), {});
    oauth2 = {
      authorizeUrl: url(o.authorizeUrl, `${at}.oauth2.authorizeUrl`, problems),
      tokenUrl: url(o.tokenUrl, `${at}.oauth2.tokenUrl`, problems),
      revokeUrl: o.revokeUrl === undefined || o.revokeUrl === null ? null : url(o.revokeUrl, `${at}.oauth2.revokeUrl`, problems),
      scopes: strings(o.scopes, `${at}.oauth2.scopes`, SCOPE, problems),
    };
  }
  let apiKey: ConnectionProvider['apiKey'] = null;
  if (authType === 'api_key') {
    const k = isObject(raw.apiKey) ? raw.apiKey : {};
    const header = typeof k.header === 'string' ? k.header : k.header === undefined ? 'Authorization' : '';
    const prefix = typeof k.prefix === 'string' ? k.prefix : k.prefix === undefined && header === 'Authorization' ? 'Bearer ' : '';
    if (!HEADER.test(header)) problems.push(`${at}.apiKey.header: must be a header name`);
    if (!/^[\x20-\x7e]{0,50}$/.test(prefix)) problems.push(`${at}.apiKey.prefix: must be at most 50 printable characters`);
    apiKey = { header, prefix };
  }
  const name = typeof raw.name === 'string' && raw.name.length <= 200 ? raw.name : id;
  return authType ? { id, object: 'connection_provider', name, authType, apiBaseUrl, allowedHosts, oauth2, apiKey } : undefined;
}

/**
 * The operator's catalogue of connection providers: a JSON file holding a list (or `{ "providers":
 * [...] }`), read once at start; every problem is a line of the returned list, so a bad file stops
 * the server instead of half working.
 */
export function readConnectionProviders(file: string | undefined): { providers: ConnectionProvider[]; problems: string[] } {
  if (!file) return { providers: [], problems: [] };
  const where = 'SWITCHBOARD_CONNECTION_PROVIDERS_FILE';
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return { providers: [], problems: [`${where}: cannot read ${file} as JSON (${(err as Error).message})`] };
  }
  const list = isObject(parsed) ? parsed.providers : parsed;
  if (!Array.isArray(list)) return { providers: [], problems: [`${where}: ${file} must hold a list of providers, or { "providers": [...] }`] };
  const problems: string[] = [];
  const providers = list.flatMap((raw, i) => provider(raw, `${where} [${i}]`, problems) ?? []);
  const seen = new Set<string>();
  for (const p of providers) {
    if (seen.has(p.id)) problems.push(`${where}: provider ${p.id} is listed twice`);
    seen.add(p.id);
  }
  return { providers: [...providers].sort((a, b) => a.id.localeCompare(b.id)), problems };
}
