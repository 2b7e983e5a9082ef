import { randomUUID } from 'node:crypto';

/** Real resources for the fuzzer's valid ids, and the credentials that reach their handlers. */
export type Fixtures = {
  adminKey: string;
  runnerToken: string;
  /** The run token of a claimed run, which the fuzzer's valid asks for approvals use. */
  runToken: string;
  triggerToken: string;
  /** The first user's: a session (its Cookie header and CSRF token), one more for logOut to end, and a personal token. */
  session: { cookie: string; csrfToken: string };
  logoutSession: { cookie: string; csrfToken: string };
  personalToken: string;
  /** Every seeded id, by TypeID prefix (`agent`, `run`, ...). */
  ids: Map<string, string[]>;
};

async function call<T>(baseUrl: string, key: string, method: string, path: string, body?: unknown, expected = [200, 201, 202]): Promise<T> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json', 'Idempotency-Key': randomUUID() }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!expected.includes(res.status)) throw new Error(`seeding ${method} ${path} failed: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : {}) as T;
}

type WithId = { id: string };

/**
 * Seeds one of each resource (two agents, runs in several states) so that valid ids reach the
 * real handlers, including the state-changing ones. The admin key the fuzzer authenticates with is
 * never one of the seeded ids, so revoking or rotating a seeded key cannot lock it out.
 */
export async function seed(baseUrl: string, adminKey: string): Promise<Fixtures> {
  const api = <T>(method: string, path: string, body?: unknown, expected?: number[]) => call<T>(baseUrl, adminKey, method, path, body, expected);
  const ids = new Map<string, string[]>();
  const add = (id: string) => {
    const prefix = id.slice(0, id.lastIndexOf('_'));
    ids.set(prefix, [...(ids.get(prefix) ?? []), id]);
  };

  const apps = await api<{ data: WithId[] }>('GET', '/api/v1/applications');
  apps.data.forEach((a) => add(a.id));
  add((await api<WithId>('POST', '/api/v1/applications', { name: 'fuzz second application' })).id);
  add((await api<WithId>('POST', '/api/v1/api-keys', { name: 'fuzz target key', scopes: ['read'] })).id);

  const agent = await api<WithId>('POST', '/api/v1/agents', { name: 'fuzz agent', model: 'echo', labels: ['fuzz'] });
  add(agent.id);
  add((await api<WithId>('POST', '/api/v1/agents', { name: 'fuzz second agent', model: 'echo' })).id);

  const runner = await api<WithId & { token: string }>('POST', '/api/v1/runners', { name: 'fuzz runner', labels: ['fuzz'] });
  add(runner.id);
  for (let i = 0; i < 3; i++) add((await api<WithId>('POST', '/api/v1/runs', { agentId: agent.id, input: { i } })).id);
  // Two runs claimed: their leases are live for the lease operations (one is completed by the fuzzer soon enough).
  for (let i = 0; i < 2; i++) {
    const claim = await call<{ lease: WithId }>(baseUrl, runner.token, 'POST', `/api/v1/runners/${runner.id}/claims?wait=0`);
    add(claim.lease.id);
  }
  // Two more claimed: one has asked a person (its approval is pending), the other's token asks for the fuzzer.
  const asking: { lease: WithId; run: WithId; runToken: { token: string } }[] = [];
  for (let i = 0; i < 2; i++) {
    add((await api<WithId>('POST', '/api/v1/runs', { agentId: agent.id, input: { asks: i } })).id);
    asking.push(await call(baseUrl, runner.token, 'POST', `/api/v1/runners/${runner.id}/claims?wait=0`));
  }
  const [asked, runToken] = [asking[0]!, asking[1]!.runToken.token];
  add((await call<WithId>(baseUrl, asked.runToken.token, 'POST', `/api/v1/runs/${asked.run.id}/approvals`, { title: 'Fuzz approval?', payload: { n: 1 } })).id);
  await call(baseUrl, runToken, 'POST', `/api/v1/runs/${asking[1]!.run.id}/usage`, { requestId: 'fuzz-call', model: 'echo', inputTokens: 10, outputTokens: 2 });

  for (let i = 0; i < 2; i++) {
    const messages = [{ role: 'user', content: [{ type: 'text', text: `fuzz thread ${i}` }] }];
    add((await api<WithId>('POST', '/api/v1/threads', { agentId: agent.id, title: `fuzz thread ${i}`, messages })).id);
  }
  const goal = await api<WithId>('POST', '/api/v1/goals', { title: 'fuzz goal', status: 'active' });
  add(goal.id);
  const project = await api<WithId>('POST', '/api/v1/projects', { name: 'fuzz project', goalId: goal.id });
  add(project.id);
  const blocker = await api<WithId>('POST', '/api/v1/tasks', { title: 'fuzz blocker', status: 'todo', projectId: project.id });
  add(blocker.id);
  add(
    (await api<WithId>('POST', '/api/v1/tasks', { title: 'fuzz task', status: 'todo', blockedBy: [blocker.id], assignee: { type: 'agent', id: agent.id } })).id,
  );
  add((await api<WithId>('POST', '/api/v1/schedules', { name: 'fuzz schedule', agentId: agent.id, cron: '0 9 * * 1-5', timezone: 'UTC' })).id);
  const trigger = await api<WithId & { secret: string }>('POST', '/api/v1/triggers', { name: 'fuzz trigger', agentId: agent.id, authentication: 'token' });
  add(trigger.id);
  add((await api<WithId>('POST', '/api/v1/triggers', { name: 'fuzz signed trigger', agentId: agent.id })).id);

  const endpoint = await api<WithId>('POST', '/api/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hook', eventTypes: ['run.*'] });
  add(endpoint.id);
  add((await api<{ messageId?: string; id: string }>('POST', `/api/v1/webhook-endpoints/${endpoint.id}/test`)).id);

  // Two aliases, one the other's fallback, on a provider they keep from being deleted (and one nothing uses).
  const provider = await api<WithId>('POST', '/api/v1/model-providers', { name: 'fuzz provider', kind: 'openai', credential: 'sk-fuzz-0123456789abcdef' });
  add(provider.id);
  add((await api<WithId>('POST', '/api/v1/model-providers', { name: 'fuzz spare provider', kind: 'anthropic' })).id);
  const backup = await api<WithId & { alias: string }>('POST', '/api/v1/models', {
    alias: 'fuzz-backup',
    providerId: provider.id,
    upstreamModel: 'gpt-4.1-mini',
  });
  add(backup.id);
  add((await api<WithId>('POST', '/api/v1/models', { alias: 'fuzz-model', providerId: provider.id, upstreamModel: 'gpt-4.1', fallbacks: [backup.alias] })).id);
  // A transcription alias whose provider nobody listens at (its jobs fail at once), an upload and a job from it.
  const nowhere = await api<WithId>('POST', '/api/v1/model-providers', {
    name: 'fuzz transcription provider',
    kind: 'openai-compatible',
    baseUrl: 'http://127.0.0.1:9/v1',
  });
  add(nowhere.id);
  add(
    (
      await api<WithId>('POST', '/api/v1/models', {
        alias: 'meeting-notes',
        providerId: nowhere.id,
        upstreamModel: 'whisper-1',
        api: 'transcription',
        retry: { attempts: 0 },
      })
    ).id,
  );
  const form = new FormData();
  form.append('file', new Blob([Buffer.from('RIFF fuzz audio')], { type: 'audio/wav' }), 'fuzz.wav');
  const uploaded = await fetch(`${baseUrl}/api/v1/uploads`, { method: 'POST', headers: { Authorization: `Bearer ${adminKey}` }, body: form });
  if (uploaded.status !== 201) throw new Error(`seeding an upload failed: ${uploaded.status} ${await uploaded.text()}`);
  const upload = (await uploaded.json()) as WithId;
  add(upload.id);
  add((await api<WithId>('POST', '/api/v1/transcriptions', { uploadId: upload.id, model: 'meeting-notes' })).id);

  const month = { from: new Date(Date.now() - 30 * 86_400_000).toISOString(), to: new Date(Date.now() + 86_400_000).toISOString() };
  add((await api<WithId>('POST', '/api/v1/costs/exports', month)).id);
  add(
    (await api<WithId>('POST', '/api/v1/budgets', { name: 'fuzz budget', scope: { type: 'agent', id: agent.id }, window: 'month', amountMicros: 5_000_000 }))
      .id,
  );

  const kb = await api<WithId>('POST', '/api/v1/knowledge-bases', { name: 'fuzz knowledge', description: 'fuzz', metadata: { team: 'fuzz' } });
  add(kb.id);
  add(
    (
      await api<WithId>('POST', `/api/v1/knowledge-bases/${kb.id}/documents`, {
        name: 'fuzz document',
        markdown: '# Fuzz\n\nFuzzing text.',
        metadata: { lang: 'en' },
      })
    ).id,
  );

  const installed = await api<WithId & { agentId: string }>('POST', '/api/v1/installations', {
    source: { agentId: agent.id },
    inputDefaults: { region: 'eu' },
    lockedInputs: ['region'],
  });
  add(installed.id);
  add(installed.agentId);

  const oauth = await api<WithId>('POST', '/api/v1/integrations', {
    providerId: 'testoauth',
    oauthClient: { clientId: 'fuzz-client', clientSecret: 'fuzz-secret' },
  });
  add(oauth.id);
  const keyed = await api<WithId>('POST', '/api/v1/integrations', { providerId: 'testkey' });
  add(keyed.id);
  add((await api<WithId>('POST', '/api/v1/connections', { integrationId: keyed.id, credentials: { apiKey: 'fuzz-key' } })).id);
  // Live connect links (an API key's form, used up by the first valid post; an OAuth one, by the first opening), under their token's prefix.
  const links: string[] = [];
  for (const integrationId of [keyed.id, keyed.id, keyed.id, oauth.id]) {
    links.push((await api<{ connectUrl: string }>('POST', '/api/v1/connect-sessions', { integrationId })).connectUrl.split('/').pop()!);
  }
  ids.set('sbc', links);

  add((await api<WithId>('POST', '/api/v1/secrets', { name: 'FUZZ_SECRET', value: 'fuzz-secret-value', description: 'fuzz' })).id);

  const endUser = await api<WithId>('POST', '/api/v1/end-users', { externalId: 'fuzz-customer', name: 'Fuzz Customer' });
  add(endUser.id);
  add((await api<WithId>('POST', '/api/v1/end-users', { externalId: 'fuzz-target-customer' })).id);

  // People: the first user (the bootstrap organization's owner) fuzzes with a session and a
  // personal token that are never among the seeded ids, so revoking those cannot lock the fuzzer out.
  const person = { email: 'fuzz.owner@example.com', password: 'fuzz owner password' };
  await login(baseUrl, '/api/v1/auth/signup', { ...person, name: 'Fuzz Owner' }, 201);
  const session = await login(baseUrl, '/api/v1/auth/login', person);
  const logoutSession = await login(baseUrl, '/api/v1/auth/login', person);
  const target = await login(baseUrl, '/api/v1/auth/login', person);
  add(target.sessionId);
  const asPerson = (s: typeof session) => ({ Cookie: s.cookie, 'X-CSRF-Token': s.csrfToken });
  const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
  const token = async (name: string) => {
    const res = await fetch(`${baseUrl}/api/v1/personal-tokens`, {
      method: 'POST',
      headers: { ...asPerson(session), 'Content-Type': 'application/json' },
      body: JSON.stringify({ name, scopes: ['admin'], expiresAt }),
    });
    if (res.status !== 201) throw new Error(`seeding a personal token failed: ${res.status} ${await res.text()}`);
    return (await res.json()) as WithId & { secret: string; organizationId: string };
  };
  const personalToken = await token('fuzz token');
  add((await token('fuzz target token')).id);
  add(personalToken.organizationId);
  const colleague = { email: 'fuzz.colleague@example.com', password: 'fuzz colleague password' };
  const invitation = await api<WithId & { token: string }>('POST', '/api/v1/invitations', { email: colleague.email, role: 'member' });
  const joined = await login(baseUrl, '/api/v1/auth/signup', { ...colleague, name: 'Fuzz Colleague', invitationToken: invitation.token }, 201);
  add(joined.userId);
  add((await api<WithId>('POST', '/api/v1/invitations', { email: 'fuzz.invitee@example.com', role: 'viewer' })).id);
  (await api<{ data: WithId[] }>('GET', '/api/v1/audit-events?limit=2')).data.forEach((e) => add(e.id));

  return {
    adminKey,
    runnerToken: runner.token,
    runToken,
    triggerToken: trigger.secret,
    session: { cookie: session.cookie, csrfToken: session.csrfToken },
    logoutSession: { cookie: logoutSession.cookie, csrfToken: logoutSession.csrfToken },
    personalToken: personalToken.secret,
    ids,
  };
}

/** Signs up or logs in: the session's Cookie header, CSRF token and id, and the user's id. */
async function login(baseUrl: string, path: string, body: unknown, expected = 200) {
  const res = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== expected) throw new Error(`seeding ${path} failed: ${res.status} ${await res.text()}`);
  const login = (await res.json()) as { csrfToken: string; session: WithId; user: WithId };
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  return { cookie, csrfToken: login.csrfToken, sessionId: login.session.id, userId: login.user.id };
}
