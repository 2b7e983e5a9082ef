import { createHash } from 'node:crypto';
import type { ConnectionProvider } from '../../config/connection-providers.js';

/** The pages' only style, allowed by its hash: the page loads nothing and runs no script. */
const STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}' +
  'main{max-width:26rem;margin:4rem auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 4px #0002}' +
  'h1{font-size:1.25rem;margin:0 0 1rem}label{display:block;margin:0 0 1rem}' +
  'input{display:block;box-sizing:border-box;width:100%;margin-top:.25rem;padding:.5rem;font:inherit}' +
  'button{padding:.5rem 1.25rem;font:inherit;cursor:pointer}';
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

/** Headers of every page a connect link answers: nothing to load, nothing to frame it, its URL (the token) never passed on, never stored. */
export const PAGE_HEADERS = {
  'Content-Security-Policy': `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);

const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
  `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`;

/** The same limits and characters the form's schema (ConnectForm) takes, so a browser says what is wrong before posting. */
const FIELDS = {
  apiKey: { label: 'API key', type: 'password', autocomplete: 'off', maxLength: 4000, pattern: '[\\x21-\\x7e]+' },
  username: { label: 'User name', type: 'text', autocomplete: 'username', maxLength: 500, pattern: '[\\x20-\\x39\\x3b-\\x7e]+' },
  password: { label: 'Password', type: 'password', autocomplete: 'current-password', maxLength: 2000, pattern: '[\\x20-\\x7e]+' },
};

const field = (name: keyof typeof FIELDS) => {
  const f = FIELDS[name];
  return (
    `<label>${f.label}<input name="${name}" type="${f.type}" autocomplete="${f.autocomplete}" required ` +
    `maxlength="${f.maxLength}" pattern="${escapeHtml(f.pattern)}"></label>`
  );
};

/** The form of an `api_key` or `basic` link, posted back to the link's own URL (no `action`). */
export function formPage(provider: ConnectionProvider): string {
  const name = escapeHtml(provider.name);
  const fields = provider.authType === 'basic' ? field('username') + field('password') : field('apiKey');
  const asked = provider.authType === 'basic' ? 'your user name and password' : 'your API key';
  return page(
    `Connect ${provider.name}`,
    `<h1>Connect ${name}</h1><p>Enter ${asked} for ${name}. It is stored encrypted and used only to call ${name} for you.</p>` +
      `<form method="post">${fields}<button type="submit">Connect</button></form>`,
  );
}

export const connectedPage = (provider: ConnectionProvider) =>
  page('Connected', `<p>Connected to ${escapeHtml(provider.name)}. You may close this window.</p>`);
