import { beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { problemOf, uniqueName } from '../support/client.js';
import { Browser, logIn, personalToken, signUp, uniqueEmail, PASSWORD, type Person } from '../support/people.js';
import { createApplication, freshAdmin, serverUrl } from './helpers.js';

type Me = {
  id: string;
  email: string;
  memberships: { organizationId: string; organizationName: string; role: string }[];
  credential: { type: string; id: string; organizationId: string | null; scopes: string[] };
};
type Invitation = { id: string; token: string; status: string; role: string };
type Application = { id: string };

const bearer = (token: string, headers: Record<string, string> = {}) => ({ Authorization: `Bearer ${token}`, ...headers });
const call = (path: string, init: RequestInit = {}) => fetch(`${serverUrl()}${path}`, init);
const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  body: JSON.stringify(body),
  headers: { 'Content-Type': 'application/json', ...headers },
});

async function invite(by: Browser, email: string, role: string, orgId?: string): Promise<Invitation> {
  const res = await by.fetch('/api/v1/invitations', { json: { email, role }, headers: orgId ? { 'X-Org-Id': orgId } : {} });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Invitation;
}

/** A colleague invited into the owner's organization with `role`, signed up with the invitation. */
async function colleague(owner: Person, role: string): Promise<Person> {
  const email = uniqueEmail(role);
  const invitation = await invite(owner.browser, email, role);
  return signUp(serverUrl(), { email, invitationToken: invitation.token });
}

async function firstApplication(person: Person): Promise<string> {
  const res = await person.browser.fetch('/api/v1/applications');
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Application[] }).data[0]!.id;
}

let owner: Person;
let ownerApp: string;

beforeAll(async () => {
  owner = await signUp(serverUrl(), { name: 'Ada Owner' });
  ownerApp = await firstApplication(owner);
});

describe('signing up and logging in', () => {
  it('gives an open sign-up its own organization, owned by it, with a default application, and a session cookie a page can use', async () => {
    const me = (await (await owner.browser.fetch('/api/v1/me')).json()) as Me;
    expect(me.email).toBe(owner.email);
    expect(me.memberships).toEqual([
      expect.objectContaining({ organizationId: owner.organizationId, role: 'owner', organizationName: "Ada Owner's organization" }),
    ]);
    expect(me.credential).toMatchObject({ type: 'session', organizationId: owner.organizationId, scopes: ['admin'] });
    const session = owner.browser.cookies.get('sb_session')!;
    expect(session.value).toMatch(/^sbs_[A-Za-z0-9_-]{43}$/);
    expect(session.attributes).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Lax', 'Path=/']));
    // Reached on loopback over plain http: not Secure, or the browser would never send it back.
    expect(session.attributes).not.toContain('Secure');
    expect(owner.browser.cookies.get('sb_csrf')!.attributes).not.toContain('HttpOnly');
    expect(ownerApp).toMatch(/^app_/);
  });

  it('refuses a second account for the same email, whatever its case', async () => {
    const res = await call('/api/v1/auth/signup', json({ email: owner.email.toUpperCase(), password: PASSWORD, name: 'Again' }));
    expect(res.status).toBe(409);
    expect((await problemOf(res)).code).toBe('email-taken');
  });

  it('answers an unknown email and a wrong password alike', async () => {
    const unknown = await call('/api/v1/auth/login', json({ email: uniqueEmail('nobody'), password: PASSWORD }));
    const wrong = await call('/api/v1/auth/login', json({ email: owner.email, password: 'not the password at all' }));
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    const strip = ({ requestId: _r, instance: _i, ...rest }: Record<string, unknown>) => rest;
    expect(strip(await problemOf(unknown))).toEqual(strip(await problemOf(wrong)));
    expect(unknown.headers.getSetCookie()).toEqual([]);
  });

  it('starts a new session at every login and ends the one the browser brought (no session fixation)', async () => {
    const browser = await logIn(serverUrl(), owner.email);
    const first = browser.cookies.get('sb_session')!.value;
    const stale = new Browser(serverUrl());
    stale.cookies.set('sb_session', { value: first, attributes: [] });
    expect((await browser.fetch('/api/v1/auth/login', { json: { email: owner.email, password: PASSWORD } })).status).toBe(200);
    const second = browser.cookies.get('sb_session')!.value;
    expect(second).not.toBe(first);
    expect((await stale.fetch('/api/v1/me')).status).toBe(401);
    expect((await browser.fetch('/api/v1/me')).status).toBe(200);
  });

  it('lists the sessions, marks the current one, revokes another, and logs out for good', async () => {
    const other = await logIn(serverUrl(), owner.email);
    const browser = await logIn(serverUrl(), owner.email);
    const listed = (await (await browser.fetch('/api/v1/me/sessions?pageSize=100')).json()) as { data: { id: string; current: boolean }[] };
    const current = listed.data.filter((s) => s.current);
    expect(current).toHaveLength(1);
    const otherId = ((await (await other.fetch('/api/v1/me')).json()) as Me).credential.id;
    expect(listed.data.map((s) => s.id)).toContain(otherId);
    expect((await browser.fetch(`/api/v1/me/sessions/${otherId}`, { method: 'DELETE' })).status).toBe(204);
    expect((await other.fetch('/api/v1/me')).status).toBe(401);

    const out = await browser.fetch('/api/v1/auth/logout', { method: 'POST' });
    expect(out.status).toBe(204);
    expect(browser.cookies.size).toBe(0);
    expect((await browser.fetch('/api/v1/me')).status).toBe(401);
  });

  it("does not let one person revoke another's session", async () => {
    const stranger = await signUp(serverUrl());
    const strangerSession = ((await (await stranger.browser.fetch('/api/v1/me')).json()) as Me).credential.id;
    const res = await owner.browser.fetch(`/api/v1/me/sessions/${strangerSession}`, { method: 'DELETE' });
    expect(res.status).toBe(404);
    expect((await stranger.browser.fetch('/api/v1/me')).status).toBe(200);
  });
});

describe('cookie-authenticated writes', () => {
  it('need the CSRF token, equal to the CSRF cookie', async () => {
    const body = { json: { name: uniqueName('csrf') }, headers: { 'X-App-Id': ownerApp } };
    const without = await owner.browser.fetch('/api/v1/agents', { ...body, csrf: false });
    expect(without.status).toBe(403);
    expect((await problemOf(without)).code).toBe('csrf-failed');
    const forged = await owner.browser.fetch('/api/v1/agents', { ...body, headers: { ...body.headers, 'X-CSRF-Token': 'x'.repeat(43) } });
    expect(forged.status).toBe(403);
    const made = await owner.browser.fetch('/api/v1/agents', { json: { name: uniqueName('csrf'), model: 'echo' }, headers: { 'X-App-Id': ownerApp } });
    expect(made.status).toBe(201);
  });

  it('must come from this server: another Origin is refused even with the token', async () => {
    const res = await owner.browser.fetch('/api/v1/agents', {
      json: { name: uniqueName('cross'), model: 'echo' },
      headers: { 'X-App-Id': ownerApp },
      origin: 'https://evil.example',
    });
    expect(res.status).toBe(403);
    expect((await problemOf(res)).code).toBe('csrf-failed');
  });

  it('exempt bearer credentials, which browsers never send on their own', async () => {
    const token = await personalToken(owner);
    const res = await call(
      '/api/v1/agents',
      json({ name: uniqueName('bearer'), model: 'echo' }, bearer(token, { 'X-App-Id': ownerApp, Origin: 'https://evil.example' })),
    );
    expect(res.status).toBe(201);
  });

  it('refuses a login posted from another site (login CSRF)', async () => {
    const res = await call('/api/v1/auth/login', json({ email: owner.email, password: PASSWORD }, { Origin: 'https://evil.example' }));
    expect(res.status).toBe(403);
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it('refuses Switchboard-User: a person in a browser does not act for end-users', async () => {
    const res = await owner.browser.fetch('/api/v1/runs', { headers: { 'X-App-Id': ownerApp, 'Switchboard-User': 'customer-1' } });
    expect(res.status).toBe(400);
  });
});

describe('organizations and their members', () => {
  it('lets an owner invite a colleague, who signs up with the token and joins with the invited role', async () => {
    const email = uniqueEmail('colleague');
    const invitation = await invite(owner.browser, email, 'member');
    expect(invitation.token).toMatch(/^sbi_[A-Za-z0-9_-]{43}$/);
    expect(invitation.status).toBe('pending');
    const person = await signUp(serverUrl(), { email, invitationToken: invitation.token });
    expect(person.organizationId).toBe(owner.organizationId);
    const member = (await (await owner.browser.fetch(`/api/v1/members/${person.userId}`)).json()) as { role: string; email: string };
    expect(member).toMatchObject({ role: 'member', email });
    const again = await call('/api/v1/auth/signup', json({ email: uniqueEmail(), password: PASSWORD, name: 'x', invitationToken: invitation.token }));
    expect(again.status).toBe(404);
    const shown = (await (await owner.browser.fetch(`/api/v1/invitations/${invitation.id}`)).json()) as { status: string; token?: string };
    expect(shown.status).toBe('accepted');
    expect(shown.token).toBeUndefined();
  });

  it('holds an invitation to its email, and a revoked one to nothing', async () => {
    const invitation = await invite(owner.browser, uniqueEmail('bound'), 'viewer');
    const wrongEmail = await call(
      '/api/v1/auth/signup',
      json({ email: uniqueEmail('thief'), password: PASSWORD, name: 'x', invitationToken: invitation.token }),
    );
    expect(wrongEmail.status).toBe(403);
    expect((await owner.browser.fetch(`/api/v1/invitations/${invitation.id}/revoke`, { method: 'POST' })).status).toBe(200);
    const again = await owner.browser.fetch(`/api/v1/invitations/${invitation.id}/revoke`, { method: 'POST' });
    expect(again.status).toBe(409);
  });

  it('lets an existing user accept an invitation into a second organization, then makes them name it with X-Org-Id', async () => {
    const other = await signUp(serverUrl());
    const invitation = await invite(owner.browser, other.email, 'viewer');
    const accepted = await other.browser.fetch('/api/v1/invitations/accept', { json: { token: invitation.token } });
    expect(accepted.status).toBe(200);
    const ambiguous = await other.browser.fetch('/api/v1/members');
    expect(ambiguous.status).toBe(400);
    expect((await problemOf(ambiguous)).code).toBe('org-id-required');
    const named = await other.browser.fetch('/api/v1/members', { headers: { 'X-Org-Id': owner.organizationId } });
    expect(named.status).toBe(200);
    const me = (await (await other.browser.fetch('/api/v1/me')).json()) as Me;
    expect(me.memberships.map((m) => m.role).sort()).toEqual(['owner', 'viewer']);
  });

  it('answers an organization the person does not belong to with 404, cookie or token', async () => {
    const stranger = await signUp(serverUrl());
    const res = await stranger.browser.fetch('/api/v1/members', { headers: { 'X-Org-Id': owner.organizationId } });
    expect(res.status).toBe(404);
    const token = await personalToken(stranger);
    const withToken = await call('/api/v1/members', { headers: bearer(token, { 'X-Org-Id': owner.organizationId }) });
    expect(withToken.status).toBe(404);
    const app = await stranger.browser.fetch('/api/v1/agents', { headers: { 'X-App-Id': ownerApp } });
    expect(app.status).toBe(404);
  });

  it('gives each role what the permission table says', async () => {
    const viewer = await colleague(owner, 'viewer');
    const member = await colleague(owner, 'member');
    const admin = await colleague(owner, 'admin');
    const agent = (who: Person) =>
      who.browser.fetch('/api/v1/agents', { json: { name: uniqueName('role'), model: 'echo' }, headers: { 'X-App-Id': ownerApp } });
    expect((await viewer.browser.fetch('/api/v1/agents', { headers: { 'X-App-Id': ownerApp } })).status).toBe(200);
    const refused = await agent(viewer);
    expect(refused.status).toBe(403);
    expect((await agent(member)).status).toBe(201);
    expect((await member.browser.fetch('/api/v1/invitations', { json: { email: uniqueEmail(), role: 'viewer' } })).status).toBe(403);
    expect((await member.browser.fetch('/api/v1/api-keys', { headers: { 'X-App-Id': ownerApp } })).status).toBe(403);
    expect((await admin.browser.fetch('/api/v1/invitations', { json: { email: uniqueEmail(), role: 'admin' } })).status).toBe(201);
    // Only owners touch the owner role.
    expect((await admin.browser.fetch('/api/v1/invitations', { json: { email: uniqueEmail(), role: 'owner' } })).status).toBe(403);
    const promote = await admin.browser.fetch(`/api/v1/members/${member.userId}`, { method: 'PATCH', json: { role: 'owner' } });
    expect(promote.status).toBe(403);
    const demoteOwner = await admin.browser.fetch(`/api/v1/members/${owner.userId}`, { method: 'PATCH', json: { role: 'viewer' } });
    expect(demoteOwner.status).toBe(403);
    expect((await admin.browser.fetch(`/api/v1/members/${viewer.userId}`, { method: 'PATCH', json: { role: 'member' } })).status).toBe(200);
    expect((await agent(viewer)).status).toBe(201);
    // A viewer may still leave.
    expect((await member.browser.fetch(`/api/v1/members/${member.userId}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('keeps the last owner: they can neither leave nor step down until another owner exists', async () => {
    const solo = await signUp(serverUrl());
    const leave = await solo.browser.fetch(`/api/v1/members/${solo.userId}`, { method: 'DELETE' });
    expect(leave.status).toBe(409);
    const stepDown = await solo.browser.fetch(`/api/v1/members/${solo.userId}`, { method: 'PATCH', json: { role: 'admin' } });
    expect(stepDown.status).toBe(409);
    const next = await colleague(solo, 'admin');
    expect((await solo.browser.fetch(`/api/v1/members/${next.userId}`, { method: 'PATCH', json: { role: 'owner' } })).status).toBe(200);
    expect((await solo.browser.fetch(`/api/v1/members/${solo.userId}`, { method: 'DELETE' })).status).toBe(204);
    expect((await solo.browser.fetch('/api/v1/members')).status).toBe(403);
  });
});

describe('personal tokens', () => {
  it('act as their user in one organization and need X-App-Id on application routes', async () => {
    const token = await personalToken(owner, { scopes: ['write'] });
    expect(token).toMatch(/^sbp_[A-Za-z0-9_-]{43}$/);
    const missing = await call('/api/v1/agents', { headers: bearer(token) });
    expect(missing.status).toBe(400);
    expect((await problemOf(missing)).code).toBe('app-id-required');
    expect((await call('/api/v1/agents', { headers: bearer(token, { 'X-App-Id': ownerApp }) })).status).toBe(200);
    const me = (await (await call('/api/v1/me', { headers: bearer(token) })).json()) as Me;
    expect(me.credential).toMatchObject({ type: 'personal_token', organizationId: owner.organizationId, scopes: ['write'] });
    // Organization-level operations need no application.
    expect((await call('/api/v1/members', { headers: bearer(token) })).status).toBe(200);
  });

  it('are listed with their prefix and last use, never their secret, and die when revoked', async () => {
    const token = await personalToken(owner, { scopes: ['read'] });
    expect((await call('/api/v1/organization', { headers: bearer(token) })).status).toBe(200);
    const list = (await (await owner.browser.fetch('/api/v1/personal-tokens?pageSize=100')).json()) as {
      data: { id: string; prefix: string; lastUsedAt: string | null; lastUsedIp: string | null; secret?: string }[];
    };
    const listed = list.data.find((t) => token.startsWith(t.prefix))!;
    expect(listed.lastUsedAt).not.toBeNull();
    expect(listed.lastUsedIp).toMatch(/127\.0\.0\.1/);
    expect(JSON.stringify(list)).not.toContain(token);
    expect((await owner.browser.fetch(`/api/v1/personal-tokens/${listed.id}/revoke`, { method: 'POST' })).status).toBe(200);
    expect((await call('/api/v1/organization', { headers: bearer(token) })).status).toBe(401);
  });

  it('cannot mint more tokens: only a session can', async () => {
    const token = await personalToken(owner, { scopes: ['admin'] });
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const res = await call('/api/v1/personal-tokens', json({ name: 'child', scopes: ['read'], expiresAt }, bearer(token)));
    expect(res.status).toBe(403);
  });

  it('expire within a year, and never beyond the role', async () => {
    const tooLong = await owner.browser.fetch('/api/v1/personal-tokens', {
      json: { name: 'forever', scopes: ['read'], expiresAt: new Date(Date.now() + 400 * 86_400_000).toISOString() },
    });
    expect(tooLong.status).toBe(422);
    const member = await colleague(owner, 'member');
    const beyond = await member.browser.fetch('/api/v1/personal-tokens', {
      json: { name: 'admin please', scopes: ['admin'], expiresAt: new Date(Date.now() + 86_400_000).toISOString() },
    });
    expect(beyond.status).toBe(403);
  });

  it('do what the scopes allow within the current role: a demoted member writes no more, a removed one is refused at once', async () => {
    const member = await colleague(owner, 'member');
    const token = await personalToken(member, { scopes: ['write'] });
    const write = () => call('/api/v1/agents', json({ name: uniqueName('pat'), model: 'echo' }, bearer(token, { 'X-App-Id': ownerApp })));
    expect((await write()).status).toBe(201);
    expect((await owner.browser.fetch(`/api/v1/members/${member.userId}`, { method: 'PATCH', json: { role: 'viewer' } })).status).toBe(200);
    expect((await write()).status).toBe(403);
    expect((await call('/api/v1/agents', { headers: bearer(token, { 'X-App-Id': ownerApp }) })).status).toBe(200);
    expect((await owner.browser.fetch(`/api/v1/members/${member.userId}`, { method: 'DELETE' })).status).toBe(204);
    expect((await call('/api/v1/agents', { headers: bearer(token, { 'X-App-Id': ownerApp }) })).status).toBe(401);
  });

  it('reach the applications of their organization only', async () => {
    const admin = await freshAdmin();
    const foreign = await createApplication(admin, uniqueName('foreign'));
    const token = await personalToken(owner);
    expect((await call('/api/v1/agents', { headers: bearer(token, { 'X-App-Id': foreign.id }) })).status).toBe(404);
  });
});

describe('the bootstrap organization', () => {
  it('is owned by the first user, who reaches the admin key’s application with a token', async () => {
    const operator = inject('operator');
    const browser = await logIn(serverUrl(), operator.email, operator.password);
    const me = (await (await browser.fetch('/api/v1/me')).json()) as Me;
    const org = (await (await call('/api/v1/organization', { headers: bearer(inject('adminKey')) })).json()) as { id: string };
    expect(me.memberships[0]).toMatchObject({ organizationId: org.id, role: 'owner' });
    const keys = await call('/api/v1/api-keys', { headers: bearer(inject('adminKey')) });
    const appId = ((await keys.json()) as { data: { applicationId: string }[] }).data[0]!.applicationId;
    expect((await browser.fetch('/api/v1/agents', { headers: { 'X-App-Id': appId } })).status).toBe(200);
  });

  it('cannot be joined by an application key acting as a person', async () => {
    const res = await call('/api/v1/me', { headers: bearer(inject('adminKey')) });
    expect(res.status).toBe(403);
  });
});
