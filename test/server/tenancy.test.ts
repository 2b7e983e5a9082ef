import { beforeAll, describe, expect, it } from 'vitest';
import { Switchboard } from '@switchboard/sdk';
import { problemOf, rawClient, send, uniqueName, type ApiClient } from '../support/client.js';
import { sineWav, startTestProvider } from '../support/test-provider.js';
import {
  absentId,
  createAgent,
  createApplication,
  createKey,
  createModel,
  createProvider,
  freshAdmin,
  serverUrl,
  token,
  type Agent,
  type ApiKeyWithSecret,
  type Application,
} from './helpers.js';
import { audioForm, postForm, transcriptionAlias } from './transcription-helpers.js';
import { personalToken, signUp } from '../support/people.js';

/** App 1 is the default application; app 2 is created here, with its own admin key. */
let admin1: string;
let app1Id: string;
let app2: Application;
let admin2: ApiKeyWithSecret;
let api1: ApiClient;
let api2: ApiClient;
let agent1: Agent;

beforeAll(async () => {
  admin1 = await freshAdmin();
  api1 = rawClient({ key: admin1 });
  app2 = await createApplication(admin1, uniqueName('tenant two'));
  admin2 = await createKey({ scopes: ['admin'], by: admin1, appId: app2.id });
  api2 = rawClient({ key: admin2.secret });
  agent1 = await createAgent(api1, { name: uniqueName('tenant one agent'), description: 'belongs to app 1' });
  const keys = await api1.GET('/api/v1/api-keys', { params: { query: { pageSize: 100 } } });
  app1Id = keys.data!.data[0]!.applicationId;
});

const json = (body: unknown) => ({ body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });

async function expectNotFound(res: Response, path: string) {
  expect(res.status, path).toBe(404);
  const body = await problemOf(res);
  expect(body.code).toBe('not-found');
  expect(body.instance).toBe(path);
  return body;
}

describe('isolation between applications', () => {
  it('the key created with X-App-Id belongs to app 2', () => {
    expect(admin2.applicationId).toBe(app2.id);
    expect(app1Id).not.toBe(app2.id);
  });

  it("another application's agent is 404 (never 403) for every operation, and stays unchanged", async () => {
    const id = agent1.id;
    const attempts: [string, RequestInit][] = [
      [`/api/v1/agents/${id}`, {}],
      [`/api/v1/agents/${id}`, { method: 'PATCH', ...json({ name: 'hijacked' }) }],
      [`/api/v1/agents/${id}`, { method: 'DELETE' }],
      [`/api/v1/agents/${id}/pause`, { method: 'POST' }],
      [`/api/v1/agents/${id}/resume`, { method: 'POST' }],
      [`/api/v1/agents/${id}/retire`, { method: 'POST' }],
      [`/api/v1/agents/${id}/versions`, {}],
      [`/api/v1/agents/${id}/versions/1`, {}],
    ];
    const details: string[] = [];
    for (const [path, init] of attempts) {
      const body = await expectNotFound(await send(path, { ...init, key: admin2.secret }), path);
      details.push(body.detail);
    }
    // The answer is the one an id that exists nowhere gets.
    const nowhere = await expectNotFound(await send(`/api/v1/agents/${absentId('agent')}`, { key: admin2.secret }), `/api/v1/agents/${absentId('agent')}`);
    expect(details[0]).toBe(nowhere.detail.replace(absentId('agent'), id));

    const still = await api1.GET('/api/v1/agents/{agentId}', { params: { path: { agentId: id } } });
    expect(still.response.status).toBe(200);
    expect(still.data).toEqual(agent1);
  });

  it('lists do not leak across applications', async () => {
    const mine = await createAgent(api2, { name: uniqueName('tenant two agent') });
    const list2 = await api2.GET('/api/v1/agents', { params: { query: { pageSize: 100 } } });
    const ids2 = list2.data!.data.map((a) => a.id);
    expect(ids2).toContain(mine.id);
    expect(ids2).not.toContain(agent1.id);
    expect(list2.data!.pagination.total).toBe(list2.data!.data.length);

    const search = await api2.GET('/api/v1/agents', { params: { query: { q: agent1.name } } });
    expect(search.data!.pagination.total).toBe(0);
    expect(search.data!.data).toEqual([]);

    const list1 = await api1.GET('/api/v1/agents', { params: { query: { q: mine.name } } });
    expect(list1.data!.data).toEqual([]);

    // API keys are per application too.
    const keys2 = await api2.GET('/api/v1/api-keys', { params: { query: { pageSize: 100 } } });
    expect(keys2.data!.data.every((k) => k.applicationId === app2.id)).toBe(true);
    expect(keys2.data!.data.map((k) => k.id)).toContain(admin2.id);
    const ownKey = await api1.GET('/api/v1/api-keys/{apiKeyId}', { params: { path: { apiKeyId: admin2.id } } });
    expect(ownKey.response.status).toBe(404);
  });

  it("another application's API key is 404 for every key operation", async () => {
    const victim = await createKey({ scopes: ['read'], by: admin1 });
    for (const [path, init] of [
      [`/api/v1/api-keys/${victim.id}`, {}],
      [`/api/v1/api-keys/${victim.id}`, { method: 'PATCH', ...json({ name: 'hijacked' }) }],
      [`/api/v1/api-keys/${victim.id}/revoke`, { method: 'POST' }],
      [`/api/v1/api-keys/${victim.id}/rotate`, { method: 'POST' }],
    ] as [string, RequestInit][]) {
      await expectNotFound(await send(path, { ...init, key: admin2.secret }), path);
    }
    expect((await send('/api/v1/agents?pageSize=1', { key: victim.secret })).status).toBe(200);
  });

  it("another application's upload and transcription are 404 for every operation, its upload cannot be transcribed, and lists do not show them", async () => {
    const provider = await startTestProvider();
    try {
      const conn1 = { baseUrl: serverUrl(), key: admin1 };
      const conn2 = { baseUrl: serverUrl(), key: admin2.secret };
      const model = await transcriptionAlias(conn1, provider);
      const upload = await postForm(conn1, '/api/v1/uploads', audioForm(sineWav({ seconds: 0.5 })));
      expect(upload.status).toBe(201);
      const job = await postForm(conn1, '/api/v1/transcriptions', audioForm(sineWav({ seconds: 0.5 }), { model: model.alias }));
      expect(job.status).toBe(202);
      const uploadId: string = upload.body.id;
      const id: string = job.body.id;
      for (const [path, init] of [
        [`/api/v1/uploads/${uploadId}`, {}],
        [`/api/v1/uploads/${uploadId}`, { method: 'DELETE' }],
        [`/api/v1/transcriptions/${id}`, {}],
        [`/api/v1/transcriptions/${id}/content`, {}],
        [`/api/v1/transcriptions/${id}/cancel`, { method: 'POST' }],
        [`/api/v1/transcriptions/${id}`, { method: 'DELETE' }],
      ] as [string, RequestInit][]) {
        await expectNotFound(await send(path, { ...init, key: admin2.secret }), path);
      }
      // App 2 can neither name app 1's upload nor its alias.
      const theirs = await send('/api/v1/transcriptions', { key: admin2.secret, method: 'POST', ...json({ uploadId, model: model.alias }) });
      expect(theirs.status).toBe(422);
      expect((await problemOf(theirs)).errors!.map((e) => e.pointer).sort()).toEqual(['/model']);
      const ownAlias = await transcriptionAlias(conn2, provider);
      const stolen = await send('/api/v1/transcriptions', { key: admin2.secret, method: 'POST', ...json({ uploadId, model: ownAlias.alias }) });
      expect((await problemOf(stolen)).errors!.map((e) => e.pointer)).toEqual(['/uploadId']);
      const list2 = await send('/api/v1/transcriptions?pageSize=100', { key: admin2.secret });
      expect(((await list2.json()) as { data: { id: string }[] }).data.map((t) => t.id)).not.toContain(id);
      // Still there for app 1.
      expect((await send(`/api/v1/uploads/${uploadId}`, { key: admin1 })).status).toBe(200);
      expect((await send(`/api/v1/transcriptions/${id}`, { key: admin1 })).status).toBe(200);
    } finally {
      await provider.close();
    }
  });
});

describe('end-users between applications', () => {
  it("another application's end-user is 404 for every operation, cannot be acted for, lists do not show it, and it stays unchanged", async () => {
    const created = await send('/api/v1/end-users', { method: 'POST', key: admin1, ...json({ externalId: token(), name: 'Only in app 1' }) });
    expect(created.status).toBe(201);
    const endUser = (await created.json()) as { id: string; externalId: string };
    const id = endUser.id;
    for (const [path, init] of [
      [`/api/v1/end-users/${id}`, {}],
      [`/api/v1/end-users/${id}`, { method: 'PATCH', ...json({ name: 'hijacked' }) }],
      [`/api/v1/end-users/${id}`, { method: 'DELETE' }],
      [`/api/v1/end-users/${id}/tokens`, { method: 'POST', ...json({}) }],
    ] as [string, RequestInit][]) {
      await expectNotFound(await send(path, { ...init, key: admin2.secret }), path);
    }
    const impersonated = await send('/api/v1/runs', { key: admin2.secret, headers: { 'Switchboard-User': id } });
    await expectNotFound(impersonated, '/api/v1/runs');
    const listed = (await (await send(`/api/v1/end-users?externalId=${encodeURIComponent(endUser.externalId)}`, { key: admin2.secret })).json()) as {
      data: unknown[];
    };
    expect(listed.data).toEqual([]);
    // The same external id in app 2 is another end-user of app 2's own.
    const upserted = await send(`/api/v1/end-users/by-external-id/${encodeURIComponent(endUser.externalId)}`, {
      method: 'PUT',
      key: admin2.secret,
      ...json({}),
    });
    expect(upserted.status).toBe(201);
    expect(((await upserted.json()) as { id: string }).id).not.toBe(id);
    const still = (await (await send(`/api/v1/end-users/${id}`, { key: admin1 })).json()) as { name: string };
    expect(still.name).toBe('Only in app 1');
  });
});

describe('threads between applications', () => {
  it("another application's thread is 404 for every operation, lists do not show it, and it stays unchanged", async () => {
    const created = await send('/api/v1/threads', {
      method: 'POST',
      key: admin1,
      ...json({ title: 'Only in app 1', agentId: agent1.id, messages: [{ role: 'user', content: [{ type: 'text', text: 'hello' }] }] }),
    });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    for (const [path, init] of [
      [`/api/v1/threads/${id}`, {}],
      [`/api/v1/threads/${id}`, { method: 'PATCH', ...json({ title: 'hijacked', state: { taken: true } }) }],
      [`/api/v1/threads/${id}`, { method: 'DELETE' }],
      [`/api/v1/threads/${id}/messages`, {}],
      [`/api/v1/threads/${id}/messages`, { method: 'POST', ...json({ messages: [{ role: 'user', content: [{ type: 'text', text: 'injected' }] }] }) }],
      [`/api/v1/threads/${id}/copy`, { method: 'POST', ...json({}) }],
      [`/api/v1/threads/${id}/runs`, { method: 'POST', ...json({ multitaskStrategy: 'interrupt' }) }],
    ] as [string, RequestInit][]) {
      await expectNotFound(await send(path, { ...init, key: admin2.secret }), path);
    }
    // App 1's agent cannot be named by a thread of app 2.
    await expectNotFound(await send('/api/v1/threads', { method: 'POST', key: admin2.secret, ...json({ agentId: agent1.id }) }), '/api/v1/threads');
    // Nor can a run on app 2's thread.
    const own = (await (await send('/api/v1/threads', { method: 'POST', key: admin2.secret, ...json({}) })).json()) as { id: string };
    const runPath = `/api/v1/threads/${own.id}/runs`;
    await expectNotFound(await send(runPath, { method: 'POST', key: admin2.secret, ...json({ agentId: agent1.id }) }), runPath);
    const listed = (await (await send('/api/v1/threads?pageSize=100', { key: admin2.secret })).json()) as { data: { id: string }[] };
    expect(listed.data.map((t) => t.id)).not.toContain(id);
    const runs = (await (await send(`/api/v1/runs?threadId=${id}`, { key: admin2.secret })).json()) as { data: unknown[] };
    expect(runs.data).toEqual([]);
    const still = (await (await send(`/api/v1/threads/${id}`, { key: admin1 })).json()) as { title: string; messageCount: number; state: object };
    expect(still).toMatchObject({ title: 'Only in app 1', messageCount: 1, state: {}, status: 'idle', lastRunId: null });
  });
});

describe('approvals between applications', () => {
  it("another application's approval is 404 for every operation, lists and inboxes do not show it, and it stays pending", async () => {
    const label = `tenancy-${token()}`;
    const agent = await createAgent(api2, { name: uniqueName('asking agent'), labels: [label] });
    const runner = (await (
      await send('/api/v1/runners', { method: 'POST', key: admin2.secret, ...json({ name: uniqueName('r'), labels: [label] }) })
    ).json()) as {
      id: string;
      token: string;
    };
    const run = (await (await send('/api/v1/runs', { method: 'POST', key: admin2.secret, ...json({ agentId: agent.id }) })).json()) as { id: string };
    const claim = (await (await send(`/api/v1/runners/${runner.id}/claims`, { method: 'POST', key: runner.token })).json()) as { runToken: { token: string } };
    const asked = await send(`/api/v1/runs/${run.id}/approvals`, { method: 'POST', key: claim.runToken.token, ...json({ title: 'Only app 2 decides' }) });
    expect(asked.status).toBe(201);
    const id = ((await asked.json()) as { id: string }).id;
    for (const [path, init] of [
      [`/api/v1/approvals/${id}`, {}],
      [`/api/v1/approvals/${id}/decisions`, { method: 'POST', ...json({ outcome: 'approve' }) }],
      [`/api/v1/approvals/${id}/comments`, {}],
      [`/api/v1/approvals/${id}/comments`, { method: 'POST', ...json({ body: 'hijacked', wake: true }) }],
    ] as [string, RequestInit][]) {
      await expectNotFound(await send(path, { ...init, key: admin1 }), path);
    }
    for (const path of ['/api/v1/approvals?pageSize=100', '/api/v1/inbox?pageSize=100', `/api/v1/approvals?runId=${run.id}`]) {
      const listed = (await (await send(path, { key: admin1 })).json()) as { data: { id: string }[] };
      expect(
        listed.data.map((a) => a.id),
        path,
      ).not.toContain(id);
    }
    // Another application's inbox stream (in an application of its own, where no other test's run
    // is claimed first): its own approval comes, app 2's never did, in history or live.
    const app3 = await createApplication(admin1, uniqueName('tenant three'));
    const admin3 = (await createKey({ scopes: ['admin'], by: admin1, appId: app3.id })).secret;
    const agent3 = await createAgent(rawClient({ key: admin3 }), { name: uniqueName('asking agent') });
    const runner3 = (await (await send('/api/v1/runners', { method: 'POST', key: admin3, ...json({ name: uniqueName('r') }) })).json()) as {
      id: string;
      token: string;
    };
    const stream = new Switchboard({ baseUrl: serverUrl(), apiKey: admin3 }).inbox.stream();
    const run3 = (await (await send('/api/v1/runs', { method: 'POST', key: admin3, ...json({ agentId: agent3.id }) })).json()) as { id: string };
    const claim3 = (await (await send(`/api/v1/runners/${runner3.id}/claims`, { method: 'POST', key: runner3.token })).json()) as {
      runToken: { token: string };
    };
    const own = await send(`/api/v1/runs/${run3.id}/approvals`, { method: 'POST', key: claim3.runToken.token, ...json({ title: 'App 3 decides' }) });
    expect(own.status, await own.clone().text()).toBe(201);
    const ownId = ((await own.json()) as { id: string }).id;
    const streamed: string[] = [];
    for await (const event of stream) {
      streamed.push(event.data.id);
      if (event.data.id === ownId) break;
    }
    expect(streamed).not.toContain(id);
    expect(streamed).toContain(ownId);
    // An application key of app 1 is no run token: it cannot ask for app 2's run either.
    expect((await send(`/api/v1/runs/${run.id}/approvals`, { method: 'POST', key: admin1, ...json({ title: 'x' }) })).status).toBe(401);
    const still = (await (await send(`/api/v1/approvals/${id}`, { key: admin2.secret })).json()) as { status: string; decision: unknown };
    expect(still).toMatchObject({ status: 'pending', decision: null });
    expect((await send(`/api/v1/runs/${run.id}/cancel`, { method: 'POST', key: admin2.secret })).status).toBe(200);
  });
});

describe('tasks between applications', () => {
  it("another application's task is 404 for every operation, cannot be named, is not listed or found, and stays unchanged", async () => {
    const created = await send('/api/v1/tasks', { method: 'POST', key: admin1, ...json({ title: 'Only in app 1 secret-plan', status: 'todo' }) });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    for (const [path, init] of [
      [`/api/v1/tasks/${id}`, {}],
      [`/api/v1/tasks/${id}`, { method: 'PATCH', ...json({ title: 'hijacked' }) }],
      [`/api/v1/tasks/${id}`, { method: 'DELETE' }],
      [`/api/v1/tasks/${id}/transitions`, { method: 'POST', ...json({ to: 'in_progress' }) }],
      [`/api/v1/tasks/${id}/release`, { method: 'POST' }],
      [`/api/v1/tasks/${id}/comments`, {}],
      [`/api/v1/tasks/${id}/comments`, { method: 'POST', ...json({ body: 'injected' }) }],
    ] as [string, RequestInit][]) {
      await expectNotFound(await send(path, { ...init, key: admin2.secret }), path);
    }
    // App 2 cannot make app 1's task its parent or blocker, nor assign app 1's agent.
    for (const body of [{ parentId: id }, { blockedBy: [id] }, { assignee: { type: 'agent', id: agent1.id } }]) {
      await expectNotFound(await send('/api/v1/tasks', { method: 'POST', key: admin2.secret, ...json({ title: 'x', ...body }) }), '/api/v1/tasks');
    }
    for (const query of ['pageSize=100', 'q=secret', `blockedBy=${id}`, `parentId=${id}`]) {
      const listed = (await (await send(`/api/v1/tasks?${query}`, { key: admin2.secret })).json()) as { data: { id: string }[] };
      expect(listed.data.map((t) => t.id)).not.toContain(id);
    }
    const still = (await (await send(`/api/v1/tasks/${id}`, { key: admin1 })).json()) as { title: string; status: string };
    expect(still).toMatchObject({ title: 'Only in app 1 secret-plan', status: 'todo' });
  });
});

describe('costs between applications', () => {
  it("another application's cost export is 404, and a cost report holds only the caller's application's usage", async () => {
    const range = { from: new Date(Date.now() - 86_400_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString() };
    const created = await send('/api/v1/costs/exports', { method: 'POST', key: admin1, ...json(range) });
    expect(created.status).toBe(202);
    const id = ((await created.json()) as { id: string }).id;
    for (const path of [`/api/v1/costs/exports/${id}`, `/api/v1/costs/exports/${id}/content`]) {
      await expectNotFound(await send(path, { key: admin2.secret }), path);
    }
    const own = await send(`/api/v1/costs?agentId=${agent1.id}&groupBy=agent`, { key: admin2.secret });
    expect(own.status).toBe(200);
    expect(((await own.json()) as { totals: { requests: number }; groups: unknown[] }).groups).toEqual([]);
  });
});

describe('installations between applications and organizations', () => {
  it("another application's installation is 404 for every operation and not listed; another organization's agent cannot be installed", async () => {
    const created = await send('/api/v1/installations', { method: 'POST', key: admin1, ...json({ source: { agentId: agent1.id } }) });
    expect(created.status).toBe(201);
    const installation = (await created.json()) as { id: string; agentId: string };
    for (const [path, init] of [
      [`/api/v1/installations/${installation.id}`, {}],
      [`/api/v1/installations/${installation.id}`, { method: 'PATCH', ...json({ model: 'gpt-4.1-mini' }) }],
      [`/api/v1/installations/${installation.id}`, { method: 'DELETE' }],
      [`/api/v1/agents/${agent1.id}/versions/1/package`, {}],
    ] as [string, RequestInit][]) {
      await expectNotFound(await send(path, { ...init, key: admin2.secret }), path);
    }
    const listed = (await (await send('/api/v1/installations?pageSize=100', { key: admin2.secret })).json()) as { data: { id: string }[] };
    expect(listed.data.map((i) => i.id)).not.toContain(installation.id);

    const stranger = await signUp(serverUrl());
    const theirs = await personalToken(stranger, { scopes: ['admin'] });
    const apps = (await (await send('/api/v1/applications', { key: theirs })).json()) as { data: { id: string }[] };
    const foreign = await send('/api/v1/installations', {
      method: 'POST',
      key: theirs,
      body: JSON.stringify({ source: { agentId: agent1.id } }),
      headers: { 'Content-Type': 'application/json', 'X-App-Id': apps.data[0]!.id },
    });
    await expectNotFound(foreign, '/api/v1/installations');
    expect((await send(`/api/v1/installations/${installation.id}`, { method: 'DELETE', key: admin1 })).status).toBe(204);
  });
});

describe('knowledge bases between applications', () => {
  it("another application's knowledge base is 404 for every operation and is not listed", async () => {
    const created = await send('/api/v1/knowledge-bases', { method: 'POST', key: admin1, ...json({ name: 'Only in app 1' }) });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    for (const [path, init] of [
      [`/api/v1/knowledge-bases/${id}`, {}],
      [`/api/v1/knowledge-bases/${id}`, { method: 'PATCH', ...json({ name: 'taken' }) }],
      [`/api/v1/knowledge-bases/${id}`, { method: 'DELETE' }],
    ] as [string, RequestInit][]) {
      await expectNotFound(await send(path, { ...init, key: admin2.secret }), path);
    }
    const listed = (await (await send('/api/v1/knowledge-bases?pageSize=100', { key: admin2.secret })).json()) as { data: { id: string }[] };
    expect(listed.data.map((b) => b.id)).not.toContain(id);
    const still = (await (await send(`/api/v1/knowledge-bases/${id}`, { key: admin1 })).json()) as { name: string };
    expect(still.name).toBe('Only in app 1');
  });

  it("another application's documents, chunks and queries are 404 for every operation", async () => {
    const base = (await (await send('/api/v1/knowledge-bases', { method: 'POST', key: admin1, ...json({ name: 'Private handbook' }) })).json()) as {
      id: string;
    };
    const imported = await send(`/api/v1/knowledge-bases/${base.id}/documents`, {
      method: 'POST',
      key: admin1,
      ...json({ name: 'Secret plan', markdown: 'The launch codeword is marmalade.' }),
    });
    expect(imported.status).toBe(202);
    const doc = ((await imported.json()) as { id: string }).id;
    const other = (await (await send('/api/v1/knowledge-bases', { method: 'POST', key: admin2.secret, ...json({ name: 'Own handbook' }) })).json()) as {
      id: string;
    };
    for (const [path, init] of [
      [`/api/v1/knowledge-bases/${base.id}/documents`, {}],
      [`/api/v1/knowledge-bases/${base.id}/documents`, { method: 'POST', ...json({ name: 'x', text: 'planted' }) }],
      [`/api/v1/knowledge-bases/${base.id}/documents/${doc}`, {}],
      [`/api/v1/knowledge-bases/${base.id}/documents/${doc}`, { method: 'PUT', ...json({ name: 'x', text: 'overwritten' }) }],
      [`/api/v1/knowledge-bases/${base.id}/documents/${doc}`, { method: 'DELETE' }],
      [`/api/v1/knowledge-bases/${base.id}/documents/${doc}/content`, {}],
      [`/api/v1/knowledge-bases/${base.id}/documents/${doc}/chunks`, {}],
      // The document through the other application's own base: still not found.
      [`/api/v1/knowledge-bases/${other.id}/documents/${doc}`, {}],
      [`/api/v1/knowledge-bases/${base.id}/query`, { method: 'POST', ...json({ query: 'marmalade' }) }],
      ['/api/v1/knowledge/query', { method: 'POST', ...json({ knowledgeBaseIds: [other.id, base.id], query: 'marmalade' }) }],
    ] as [string, RequestInit][]) {
      await expectNotFound(await send(path, { ...init, key: admin2.secret }), path);
    }
    const own = (await (
      await send(`/api/v1/knowledge-bases/${other.id}/query`, { method: 'POST', key: admin2.secret, ...json({ query: 'marmalade' }) })
    ).json()) as {
      data: unknown[];
    };
    expect(own.data).toEqual([]);
  });

  it("an agent cannot bind another application's knowledge base to search_knowledge (422, named at its pointer), on create or update", async () => {
    const base = (await (await send('/api/v1/knowledge-bases', { method: 'POST', key: admin1, ...json({ name: 'Not for app 2' }) })).json()) as { id: string };
    const own = (await (await send('/api/v1/knowledge-bases', { method: 'POST', key: admin2.secret, ...json({ name: 'App 2 handbook' }) })).json()) as {
      id: string;
    };
    const tool = (ids: string[]) => ({ tools: [{ kind: 'builtin' as const, name: 'search_knowledge', knowledgeBaseIds: ids }] });
    const refused = await send('/api/v1/agents', {
      method: 'POST',
      key: admin2.secret,
      ...json({ name: uniqueName('searcher'), model: 'gpt-4.1', ...tool([own.id, base.id]) }),
    });
    expect(refused.status).toBe(422);
    expect((await problemOf(refused)).errors).toEqual([
      expect.objectContaining({ pointer: '/tools/0/knowledgeBaseIds/1', detail: expect.stringContaining(base.id) }),
    ]);
    const agent = await createAgent(api2, { name: uniqueName('searcher'), ...tool([own.id]) });
    const patched = await send(`/api/v1/agents/${agent.id}`, { method: 'PATCH', key: admin2.secret, ...json(tool([own.id, base.id])) });
    expect(patched.status).toBe(422);
  });
});

describe('budgets between applications', () => {
  it("another application's budget is 404 for every operation, is not listed, and cannot cap another application's agent", async () => {
    const body = { name: 'Only in app 1', scope: { type: 'agent', id: agent1.id }, window: 'month', amountMicros: 1_000_000 };
    const created = await send('/api/v1/budgets', { method: 'POST', key: admin1, ...json(body) });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    for (const [path, init] of [
      [`/api/v1/budgets/${id}`, {}],
      [`/api/v1/budgets/${id}`, { method: 'PATCH', ...json({ amountMicros: 1 }) }],
      [`/api/v1/budgets/${id}`, { method: 'DELETE' }],
    ] as [string, RequestInit][]) {
      await expectNotFound(await send(path, { ...init, key: admin2.secret }), path);
    }
    await expectNotFound(await send('/api/v1/budgets', { method: 'POST', key: admin2.secret, ...json(body) }), '/api/v1/budgets');
    const listed = (await (await send('/api/v1/budgets?pageSize=100', { key: admin2.secret })).json()) as { data: { id: string }[] };
    expect(listed.data.map((b) => b.id)).not.toContain(id);
    const still = (await (await send(`/api/v1/budgets/${id}`, { key: admin1 })).json()) as { amountMicros: number };
    expect(still.amountMicros).toBe(1_000_000);
    expect((await send(`/api/v1/budgets/${id}`, { method: 'DELETE', key: admin1 })).status).toBe(204);
  });
});

describe('secrets between applications', () => {
  it("another application's secret is 404 for every operation, is not listed, and is never delivered to its runners", async () => {
    const name = `TENANT_${Math.random().toString(36).slice(2, 10).toUpperCase()}`;
    const created = await send('/api/v1/secrets', { method: 'POST', key: admin1, ...json({ name, value: 'only-for-app-one' }) });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    for (const [path, init] of [
      [`/api/v1/secrets/${id}`, {}],
      [`/api/v1/secrets/${id}`, { method: 'PATCH', ...json({ description: 'mine now' }) }],
      [`/api/v1/secrets/${id}`, { method: 'DELETE' }],
      [`/api/v1/secrets/${id}/versions`, {}],
      [`/api/v1/secrets/${id}/versions`, { method: 'POST', ...json({ value: 'overwritten' }) }],
      [`/api/v1/secrets/${id}/accesses`, {}],
    ] as [string, RequestInit][]) {
      await expectNotFound(await send(path, { ...init, key: admin2.secret }), path);
    }
    const listed = (await (await send('/api/v1/secrets?pageSize=100', { key: admin2.secret })).json()) as { data: { id: string }[] };
    expect(listed.data.map((s) => s.id)).not.toContain(id);
    // The same name in the other application is its own secret: an agent there gets that one's value.
    expect((await send('/api/v1/secrets', { method: 'POST', key: admin2.secret, ...json({ name, value: 'only-for-app-two' }) })).status).toBe(201);
    const still = (await (await send(`/api/v1/secrets/${id}/versions`, { key: admin1 })).json()) as { data: unknown[] };
    expect(still.data).toHaveLength(1);
    expect((await send(`/api/v1/secrets/${id}`, { method: 'DELETE', key: admin1 })).status).toBe(204);
  });
});

describe('connections between applications', () => {
  // Made in the second application: the first is the shared server's default, where the contract suite enables these providers.
  it("another application's integration and connection are 404 for every operation and are not listed", async () => {
    const post = async (path: string, body: object) => {
      const r = await send(path, { method: 'POST', key: admin2.secret, ...json(body) });
      expect(r.status).toBe(201);
      return ((await r.json()) as { id: string }).id;
    };
    const integration = await post('/api/v1/integrations', { providerId: 'testkey' });
    const connection = await post('/api/v1/connections', { integrationId: integration, credentials: { apiKey: 'only-for-app-two' } });
    for (const [path, init] of [
      [`/api/v1/integrations/${integration}`, {}],
      [`/api/v1/integrations/${integration}`, { method: 'DELETE' }],
      [`/api/v1/connections/${connection}`, {}],
      [`/api/v1/connections/${connection}`, { method: 'DELETE' }],
      [`/api/v1/connections/${connection}/refresh`, { method: 'POST' }],
      [`/api/v1/connections/${connection}/proxy`, { method: 'POST', ...json({ method: 'GET', url: '/me' }) }],
      ['/api/v1/connections', { method: 'POST', ...json({ integrationId: integration, credentials: { apiKey: 'mine-now' } }) }],
      ['/api/v1/connect-sessions', { method: 'POST', ...json({ integrationId: integration }) }],
    ] as [string, RequestInit][]) {
      await expectNotFound(await send(path, { ...init, key: admin1 }), path);
    }
    const listed = (await (await send('/api/v1/connections?pageSize=100', { key: admin1 })).json()) as { data: { id: string }[] };
    expect(listed.data.map((c) => c.id)).not.toContain(connection);
    const integrations = (await (await send('/api/v1/integrations?pageSize=100', { key: admin1 })).json()) as { data: { id: string }[] };
    expect(integrations.data.map((i) => i.id)).not.toContain(integration);
    expect((await send(`/api/v1/integrations/${integration}`, { method: 'DELETE', key: admin2.secret })).status).toBe(204);
  });
});

describe('goals and projects between applications', () => {
  it("another application's goal and project are 404 for every operation, cannot be linked to, and are not listed", async () => {
    const post = async (path: string, body: object) => {
      const r = await send(path, { method: 'POST', key: admin1, ...json(body) });
      expect(r.status).toBe(201);
      return ((await r.json()) as { id: string }).id;
    };
    const goal = await post('/api/v1/goals', { title: 'Only in app 1' });
    const project = await post('/api/v1/projects', { name: 'Only in app 1', goalId: goal });
    for (const [path, init] of [
      [`/api/v1/goals/${goal}`, {}],
      [`/api/v1/goals/${goal}`, { method: 'PATCH', ...json({ title: 'hijacked' }) }],
      [`/api/v1/goals/${goal}`, { method: 'DELETE' }],
      [`/api/v1/projects/${project}`, {}],
      [`/api/v1/projects/${project}`, { method: 'PATCH', ...json({ name: 'hijacked' }) }],
      [`/api/v1/projects/${project}`, { method: 'DELETE' }],
    ] as [string, RequestInit][]) {
      await expectNotFound(await send(path, { ...init, key: admin2.secret }), path);
    }
    for (const [path, body] of [
      ['/api/v1/goals', { title: 'x', parentId: goal }],
      ['/api/v1/projects', { name: 'x', goalId: goal }],
      ['/api/v1/tasks', { title: 'x', projectId: project }],
      ['/api/v1/tasks', { title: 'x', goalId: goal }],
    ] as [string, object][]) {
      await expectNotFound(await send(path, { method: 'POST', key: admin2.secret, ...json(body) }), path);
    }
    for (const path of ['/api/v1/goals?pageSize=100', '/api/v1/projects?pageSize=100']) {
      const listed = (await (await send(path, { key: admin2.secret })).json()) as { data: { id: string }[] };
      expect(listed.data.map((x) => x.id)).not.toContain(path.includes('goals') ? goal : project);
    }
  });
});

describe('the model catalog between applications', () => {
  it("another application's provider and alias are 404 for every operation, and stay unchanged", async () => {
    const provider = await createProvider(api1, { credential: 'sk-tenant-one-0123456789' });
    const model = await createModel(api1, { providerId: provider.id });
    const attempts: [string, RequestInit, string][] = [
      [`/api/v1/model-providers/${provider.id}`, {}, 'prov'],
      [`/api/v1/model-providers/${provider.id}`, { method: 'PATCH', ...json({ name: 'hijacked' }) }, 'prov'],
      [`/api/v1/model-providers/${provider.id}`, { method: 'DELETE' }, 'prov'],
      [`/api/v1/models/${model.id}`, {}, 'model'],
      [`/api/v1/models/${model.id}`, { method: 'PATCH', ...json({ upstreamModel: 'hijacked' }) }, 'model'],
      [`/api/v1/models/${model.id}`, { method: 'DELETE' }, 'model'],
    ];
    for (const [path, init, prefix] of attempts) {
      const body = await expectNotFound(await send(path, { ...init, key: admin2.secret }), path);
      // The answer is the one an id that exists nowhere gets.
      const id = prefix === 'prov' ? provider.id : model.id;
      const nowhere = path.replace(id, absentId(prefix as 'prov' | 'model'));
      expect(body.detail).toBe(
        (await problemOf(await send(nowhere, { ...init, key: admin2.secret }))).detail.replace(absentId(prefix as 'prov' | 'model'), id),
      );
    }
    expect((await api1.GET('/api/v1/model-providers/{modelProviderId}', { params: { path: { modelProviderId: provider.id } } })).data).toEqual(provider);
    expect((await api1.GET('/api/v1/models/{modelId}', { params: { path: { modelId: model.id } } })).data).toEqual(model);
  });

  it("cannot use another application's provider as providerId, nor its aliases as fallbacks; lists do not leak", async () => {
    const provider1 = await createProvider(api1);
    const model1 = await createModel(api1, { providerId: provider1.id });
    const path = '/api/v1/models';
    const created = await send(path, { method: 'POST', ...json({ alias: token(), providerId: provider1.id, upstreamModel: 'gpt-4.1' }), key: admin2.secret });
    const problem = await expectNotFound(created, path);
    expect(problem.detail).toContain(provider1.id);

    const provider2 = await createProvider(api2);
    const model2 = await createModel(api2, { providerId: provider2.id });
    const moved = await send(`/api/v1/models/${model2.id}`, { method: 'PATCH', ...json({ providerId: provider1.id }), key: admin2.secret });
    await expectNotFound(moved, `/api/v1/models/${model2.id}`);
    // Aliases are names within an application: app 1's alias is no alias in app 2.
    const fallback = await send(path, {
      method: 'POST',
      ...json({ alias: token(), providerId: provider2.id, upstreamModel: 'x', fallbacks: [model1.alias] }),
      key: admin2.secret,
    });
    expect(fallback.status).toBe(422);
    // ...and the same alias may exist in both.
    expect((await createModel(api2, { providerId: provider2.id, alias: model1.alias })).alias).toBe(model1.alias);

    const providers2 = await api2.GET('/api/v1/model-providers', { params: { query: { pageSize: 100 } } });
    expect(providers2.data!.data.map((p) => p.id)).not.toContain(provider1.id);
    expect(providers2.data!.data.map((p) => p.id)).toContain(provider2.id);
    const models2 = await api2.GET('/api/v1/models', { params: { query: { pageSize: 100, providerId: provider1.id } } });
    expect(models2.data!.pagination.total).toBe(0);
    const byAlias = await api2.GET('/api/v1/models', { params: { query: { alias: model1.alias } } });
    expect(byAlias.data!.data.map((m) => m.providerId)).toEqual([provider2.id]);
  });
});

describe('X-App-Id', () => {
  it('lets an admin key act in another application of its organization', async () => {
    const asApp2 = rawClient({ key: admin1, headers: { 'X-App-Id': app2.id } });
    const created = await asApp2.POST('/api/v1/agents', { body: { name: uniqueName('made for app 2'), model: 'gpt-4.1' } as never });
    expect(created.response.status).toBe(201);
    const id = created.data!.id;

    expect((await api2.GET('/api/v1/agents/{agentId}', { params: { path: { agentId: id } } })).response.status).toBe(200);
    expect((await api1.GET('/api/v1/agents/{agentId}', { params: { path: { agentId: id } } })).response.status).toBe(404);
    expect((await asApp2.GET('/api/v1/agents/{agentId}', { params: { path: { agentId: id } } })).response.status).toBe(200);
    // ...and its keys: a key created this way belongs to app 2.
    const key = await createKey({ scopes: ['read'], by: admin1, appId: app2.id });
    expect(key.applicationId).toBe(app2.id);
    expect((await send(`/api/v1/agents/${id}`, { key: key.secret })).status).toBe(200);
  });

  it('answers 403 when a non-admin key names another application, and changes nothing there', async () => {
    const writer = await createKey({ scopes: ['read', 'write'], by: admin1 });
    const name = uniqueName('smuggled');
    const res = await send('/api/v1/agents', {
      key: writer.secret,
      method: 'POST',
      body: JSON.stringify({ name, model: 'gpt-4.1' }),
      headers: { 'Content-Type': 'application/json', 'X-App-Id': app2.id },
    });
    expect(res.status).toBe(403);
    expect((await problemOf(res)).code).toBe('forbidden');
    const read = await send('/api/v1/agents', { key: writer.secret, headers: { 'X-App-Id': app2.id } });
    expect(read.status).toBe(403);
    expect((await api2.GET('/api/v1/agents', { params: { query: { q: name } } })).data!.pagination.total).toBe(0);
    expect((await api1.GET('/api/v1/agents', { params: { query: { q: name } } })).data!.pagination.total).toBe(0);
  });

  it("accepts X-App-Id equal to the key's own application", async () => {
    const writer = await createKey({ scopes: ['read', 'write'], by: admin1 });
    const res = await send(`/api/v1/agents/${agent1.id}`, { key: writer.secret, headers: { 'X-App-Id': app1Id } });
    expect(res.status).toBe(200);
    const own2 = await send('/api/v1/agents?pageSize=1', { key: admin2.secret, headers: { 'X-App-Id': app2.id } });
    expect(own2.status).toBe(200);
  });

  it('answers 404 for an application that does not exist', async () => {
    const path = '/api/v1/agents';
    const res = await send(path, { key: admin1, headers: { 'X-App-Id': absentId('app') } });
    await expectNotFound(res, path);
    const create = await send(path, {
      key: admin1,
      method: 'POST',
      body: JSON.stringify({ name: 'x', model: 'gpt-4.1' }),
      headers: { 'Content-Type': 'application/json', 'X-App-Id': absentId('app') },
    });
    await expectNotFound(create, path);
  });

  it('ignores X-App-Id on organization-level routes, which do not take it, instead of failing', async () => {
    // The organization and its applications are the same whatever application is named.
    for (const path of ['/api/v1/organization', `/api/v1/applications/${app2.id}`]) {
      const plain = await send(path, { key: admin1 });
      expect(plain.status).toBe(200);
      const expected = await plain.json();
      for (const appId of [absentId('app'), app2.id]) {
        const res = await send(path, { key: admin1, headers: { 'X-App-Id': appId } });
        expect(res.status, `${path} with X-App-Id ${appId}`).toBe(200);
        expect(await res.json()).toEqual(expected);
      }
    }
  });

  it('answers 422 for a malformed X-App-Id, whatever the scope of the key', async () => {
    const writer = await createKey({ scopes: ['read', 'write'], by: admin1 });
    const statuses: Record<string, number> = {};
    for (const [label, key, value] of [
      ['admin, not a TypeID', admin1, 'not-an-app'],
      ['admin, an agent id', admin1, 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab'],
      ['write, not a TypeID', writer.secret, 'not-an-app'],
    ] as const) {
      const res = await send('/api/v1/agents', { key, headers: { 'X-App-Id': value } });
      statuses[label] = res.status;
      if (res.status === 422) {
        const body = await problemOf(res);
        expect(body.code).toBe('validation-error');
        expect(body.errors!.map((e) => e.parameter)).toContain('X-App-Id');
      }
    }
    expect(statuses).toEqual({ 'admin, not a TypeID': 422, 'admin, an agent id': 422, 'write, not a TypeID': 422 });
  });
});

describe('the audit log between organizations', () => {
  it("another organization's events are not found, never listed, and its activity and chain are its own", async () => {
    const stranger = await signUp(serverUrl());
    const theirs = await personalToken(stranger, { scopes: ['admin'] });
    const ours = (await (await send(`/api/v1/audit-events?resourceId=${agent1.id}`, { key: admin1 })).json()) as { data: { id: string }[] };
    expect(ours.data.length).toBeGreaterThan(0);
    for (const { id } of ours.data) await expectNotFound(await send(`/api/v1/audit-events/${id}`, { key: theirs }), `/api/v1/audit-events/${id}`);
    for (const path of [`/api/v1/audit-events?resourceId=${agent1.id}`, `/api/v1/activity?resourceId=${agent1.id}`]) {
      expect(((await (await send(path, { key: theirs })).json()) as { data: unknown[] }).data, path).toEqual([]);
    }
    const listed = (await (await send('/api/v1/audit-events?limit=200', { key: theirs })).json()) as { data: { organizationId: string }[] };
    expect(listed.data.length).toBeGreaterThan(0);
    expect(listed.data.every((e) => e.organizationId === stranger.organizationId)).toBe(true);
    const verified = (await (await send('/api/v1/audit-events/verify', { key: theirs })).json()) as { organizationId: string; checked: number; valid: boolean };
    expect(verified).toMatchObject({ organizationId: stranger.organizationId, valid: true });
    expect(verified.checked).toBe(listed.data.length);
  });
});
