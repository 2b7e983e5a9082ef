import { randomUUID } from 'node:crypto';

/** A set cookie as the browser keeps it: its value and the attributes a test checks. */
export type StoredCookie = { value: string; attributes: string[] };

/**
 * What a browser does with cookies, for one origin: keeps what Set-Cookie sets (and drops what it
 * expires), sends them back, and (like a page of this server) sends its own Origin on writes and
 * echoes the CSRF cookie in X-CSRF-Token unless told not to.
 */
export class Browser {
  readonly cookies = new Map<string, StoredCookie>();

  constructor(readonly baseUrl: string) {}

  /** Every call of a page of this server: same Origin, the CSRF cookie echoed on writes. */
  async fetch(path: string, init: RequestInit & { json?: unknown; csrf?: boolean; origin?: string | null } = {}): Promise<Response> {
    const method = (init.method ?? (init.json === undefined ? 'GET' : 'POST')).toUpperCase();
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('Cookie', [...this.cookies].map(([name, c]) => `${name}=${c.value}`).join('; '));
    const write = method !== 'GET' && method !== 'HEAD';
    if (write && init.origin !== null) headers.set('Origin', init.origin ?? this.baseUrl);
    const csrf = this.cookies.get('sb_csrf')?.value;
    if (write && csrf && init.csrf !== false && !headers.has('x-csrf-token')) headers.set('X-CSRF-Token', csrf);
    if (init.json !== undefined) headers.set('Content-Type', 'application/json');
    const res = await fetch(`${this.baseUrl}${path}`, {
      ...init,
      method,
      headers,
      body: init.json === undefined ? init.body : JSON.stringify(init.json),
    });
    this.keep(res);
    return res;
  }

  private keep(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((p) => p.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (!value || attributes.some((a) => /^max-age=0$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, { value, attributes });
    }
  }
}

export const uniqueEmail = (label = 'person') => `${label}.${randomUUID().slice(0, 12)}@example.com`;
export const PASSWORD = 'correct horse battery staple';

export type Person = { email: string; password: string; browser: Browser; userId: string; organizationId: string };

/** Signs a new person up (with an invitation token, into its organization) in a fresh browser. */
export async function signUp(baseUrl: string, options: { email?: string; name?: string; invitationToken?: string } = {}): Promise<Person> {
  const email = options.email ?? uniqueEmail();
  const browser = new Browser(baseUrl);
  const res = await browser.fetch('/api/v1/auth/signup', {
    json: {
      email,
      password: PASSWORD,
      name: options.name ?? email.split('@')[0],
      ...(options.invitationToken ? { invitationToken: options.invitationToken } : {}),
    },
  });
  if (res.status !== 201) throw new Error(`sign-up failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { user: { id: string } };
  const me = (await (await browser.fetch('/api/v1/me')).json()) as { memberships: { organizationId: string }[] };
  return { email, password: PASSWORD, browser, userId: body.user.id, organizationId: me.memberships[0]!.organizationId };
}

/** A fresh browser logged in as the person. */
export async function logIn(baseUrl: string, email: string, password = PASSWORD): Promise<Browser> {
  const browser = new Browser(baseUrl);
  const res = await browser.fetch('/api/v1/auth/login', { json: { email, password } });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  return browser;
}

/** A personal token the person's browser creates for its organization (or the one `orgId` names). */
export async function personalToken(person: { browser: Browser }, body: { scopes?: string[]; expiresInDays?: number; orgId?: string } = {}): Promise<string> {
  const expiresAt = new Date(Date.now() + (body.expiresInDays ?? 30) * 86_400_000).toISOString();
  const res = await person.browser.fetch('/api/v1/personal-tokens', {
    json: { name: `token ${randomUUID().slice(0, 8)}`, scopes: body.scopes ?? ['write'], expiresAt },
    headers: body.orgId ? { 'X-Org-Id': body.orgId } : {},
  });
  if (res.status !== 201) throw new Error(`creating a personal token failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { secret: string }).secret;
}
