import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, inject, it } from 'vitest';
import { API_VERSION, Switchboard, SwitchboardError } from '@switchboard/sdk';
import * as generated from '@switchboard/sdk/generated';
import { extractOperations, loadBundledSpec } from '@switchboard/server';
import { contractCheckedFetch, uniqueName } from '../support/client.js';
import { audioFile, drain, redirectAsAnswer } from './sdk-calls.js';
import { startTestProvider } from '../support/test-provider.js';
import { inspectDatabase } from '../support/inspect-database.js';

const operations = extractOperations(loadBundledSpec().document);
const operationIds = operations.map((o) => o.operationId);

/** The Request-Id of every response to the step running now, by operationId. */
const requestIds = new Map<string, string[]>();
let stepRequests: string[] = [];
const checkedFetch: typeof fetch = async (input, init) => {
  const res = await contractCheckedFetch(input, init);
  const id = res.headers.get('request-id');
  if (id) stepRequests.push(id);
  return res;
};

/**
 * The SDK drives the real server through `prism proxy --errors`: a request or response that breaks
 * the spec fails the call. Together the steps use every operation of the spec.
 */
describe('the SDK against the real server, through the contract-checking proxy', () => {
  const covered = new Set<string>();
  const sb = new Switchboard({ baseUrl: inject('proxyUrl'), apiKey: inject('adminKey'), fetch: checkedFetch });
  const step = async <T>(operationId: string, call: () => Promise<T>): Promise<T> => {
    stepRequests = [];
    const result = await call();
    covered.add(operationId);
    requestIds.set(operationId, [...(requestIds.get(operationId) ?? []), ...stepRequests]);
    return result;
  };
  const raw = { client: sb.client, throwOnError: true as const };

  it('serves the system endpoints', async () => {
    // Straight to the server: Prism's proxy follows the redirect itself and then checks /api/docs's 200 against getRoot.
    // fetch follows the redirect too: the call ends on the API reference.
    const root = await step('getRoot', () => generated.getRoot({ ...raw, baseUrl: inject('serverUrl'), parseAs: 'text' }));
    expect(root.response.url).toBe(`${inject('serverUrl')}/api/docs`);
    expect(root.data).toContain('swagger-ui');
    expect(await step('getHealth', () => sb.system.health())).toEqual({ status: 'ok' });
    expect(await step('getReadiness', () => sb.system.readiness())).toEqual({ status: 'ok', database: 'ok' });
    // The shared server has no METRICS_TOKEN: not served (test/server/metrics.test.ts covers a server that serves them).
    const metrics = await step('getMetrics', () => generated.getMetrics({ client: sb.client, parseAs: 'text' }));
    expect(metrics.response.status).toBe(404);
    expect(await step('getOpenApiJson', () => sb.system.openApi())).toMatchObject({ openapi: '3.1.0', info: { version: API_VERSION } });
    // The SDK speaks the version it was generated for, the newest: the one listed as current.
    const versions = await step('listApiVersions', () => sb.versions.list());
    expect(versions.data.find((v) => v.status === 'current')?.version).toBe(API_VERSION);
    expect((await step('getOpenApiYaml', () => generated.getOpenApiYaml({ ...raw, parseAs: 'text' }))).data).toMatch(/^openapi: 3\.1\.0/m);
    expect((await step('getApiDocs', () => generated.getApiDocs({ ...raw, parseAs: 'text' }))).data).toContain('swagger-ui');
    await step('getApiDocsAsset', () => generated.getApiDocsAsset({ ...raw, path: { asset: 'swagger-ui.css' } }));
    expect((await step('getProblemType', () => generated.getProblemType({ ...raw, parseAs: 'text', path: { code: 'validation-error' } }))).data).toContain(
      '422',
    );
  });

  it('manages the organization, applications and API keys', async () => {
    const org = await step('getOrganization', () => sb.organization.get());
    expect(org.id).toMatch(/^org_/);
    const kept = await step('updateOrganization', () => sb.organization.update({ auditRetentionDays: org.auditRetentionDays }));
    expect(kept).toMatchObject({ id: org.id, name: org.name, auditRetentionDays: org.auditRetentionDays });

    const app = await step('createApplication', () => sb.applications.create({ name: uniqueName('Contract app') }, { idempotencyKey: randomUUID() }));
    await step('getApplication', () => sb.applications.get(app.id));
    const renamed = await step('updateApplication', () => sb.applications.update(app.id, { name: 'Renamed', description: 'Second' }));
    expect(renamed.name).toBe('Renamed');
    const apps = await step('listApplications', () => sb.applications.list({ q: 'Renamed', sort: '-createdAt' }));
    expect(apps.data.map((a) => a.id)).toContain(app.id);

    const key = await step('createApiKey', () =>
      sb.apiKeys.create({ name: 'contract', scopes: ['read'], allowedModels: ['contract-model'] }, { idempotencyKey: randomUUID() }),
    );
    expect(key.allowedModels).toEqual(['contract-model']);
    expect(key.secret).toMatch(/^sbk_/);
    await step('getApiKey', () => sb.apiKeys.get(key.id));
    expect((await step('updateApiKey', () => sb.apiKeys.update(key.id, { scopes: ['read', 'write'], allowedModels: null }))).allowedModels).toBeNull();
    const rotated = await step('rotateApiKey', () => sb.apiKeys.rotate(key.id, { gracePeriodSeconds: 60 }));
    expect(rotated.secret).not.toBe(key.secret);
    const revoked = await step('revokeApiKey', () => sb.apiKeys.revoke(key.id));
    expect(revoked.status).toBe('revoked');
    const keys = await step('listApiKeys', () => sb.apiKeys.list({ status: 'revoked', pageSize: 100 }));
    expect(keys.data.map((k) => k.id)).toContain(key.id);

    await step('deleteApplication', () => sb.applications.delete(app.id));
    await expect(sb.applications.get(app.id)).rejects.toBeInstanceOf(SwitchboardError);
  });

  it('signs people up and in, invites them, manages members and personal tokens, and logs out', async () => {
    const password = 'correct horse battery staple';
    const email = (who: string) => `${who}.${randomUUID().slice(0, 8)}@example.com`;
    const proxied = { baseUrl: inject('proxyUrl'), fetch: checkedFetch };
    const anonymous = new Switchboard({ ...proxied, apiKey: '' });
    const ownerEmail = email('owner');
    const signed = await step('signUp', () => anonymous.auth.signUp({ email: ownerEmail, password, name: 'Contract Owner' }));
    expect(signed.session.current).toBe(true);
    const { client: owner } = await step('logIn', () => Switchboard.logIn({ email: ownerEmail, password }, proxied));
    const me = await step('getMe', () => owner.me.get());
    expect(me.memberships).toHaveLength(1);
    const sessions = await step('listSessions', () => owner.me.sessions.list());
    expect(sessions.data.filter((x) => x.current)).toHaveLength(1);

    const colleagueEmail = email('colleague');
    await anonymous.auth.signUp({ email: colleagueEmail, password, name: 'Contract Colleague' });
    const invitation = await step('createInvitation', () =>
      owner.invitations.create({ email: colleagueEmail, role: 'member' }, { idempotencyKey: randomUUID() }),
    );
    expect(invitation.token).toMatch(/^sbi_/);
    await step('getInvitation', () => owner.invitations.get(invitation.id));
    const { client: colleague } = await Switchboard.logIn({ email: colleagueEmail, password }, proxied);
    const joined = await step('acceptInvitation', () => colleague.invitations.accept({ token: invitation.token }));
    expect(joined.role).toBe('member');
    const spare = await owner.invitations.create({ email: email('spare'), role: 'viewer' });
    expect((await step('revokeInvitation', () => owner.invitations.revoke(spare.id))).status).toBe('revoked');
    const invitations = await step('listInvitations', () => owner.invitations.list({ status: 'accepted' }));
    expect(invitations.data.map((i) => i.id)).toEqual([invitation.id]);

    const members = await step('listMembers', () => owner.members.list({ sort: 'email' }));
    expect(members.data).toHaveLength(2);
    await step('getMember', () => owner.members.get(joined.id));
    expect((await step('updateMember', () => owner.members.update(joined.id, { role: 'viewer' }))).role).toBe('viewer');

    const token = await step('createPersonalToken', () =>
      owner.personalTokens.create(
        { name: 'contract', scopes: ['write'], expiresAt: new Date(Date.now() + 86_400_000).toISOString() },
        { idempotencyKey: randomUUID() },
      ),
    );
    const app = (await owner.applications.list()).data[0]!;
    const asToken = new Switchboard({ ...proxied, apiKey: token.secret, appId: app.id });
    expect((await asToken.agents.list()).data).toEqual([]);
    await step('getPersonalToken', () => owner.personalTokens.get(token.id));
    expect((await step('listPersonalTokens', () => owner.personalTokens.list({ status: 'active' }))).data.map((t) => t.id)).toEqual([token.id]);
    expect((await step('revokePersonalToken', () => owner.personalTokens.revoke(token.id))).status).toBe('revoked');

    const { client: second } = await Switchboard.logIn({ email: ownerEmail, password }, proxied);
    const secondId = (await second.me.get()).credential.id;
    await step('revokeSession', () => owner.me.sessions.revoke(secondId));
    await step('removeMember', () => owner.members.remove(joined.id));
    await step('logOut', () => owner.auth.logOut());
    expect(await owner.me.get().catch((e: unknown) => (e as SwitchboardError).status)).toBe(401);
  });

  it('manages end-users, acts for one, and lets one start and stream their own runs with a token of theirs', async () => {
    const externalId = `contract-${randomUUID()}`;
    const created = await step('createEndUser', () =>
      sb.endUsers.create({ externalId, name: 'Jane', metadata: { plan: 'pro' } }, { idempotencyKey: randomUUID() }),
    );
    expect((await step('getEndUser', () => sb.endUsers.get(created.id))).externalId).toBe(externalId);
    const renamed = await step('updateEndUser', () => sb.endUsers.update(created.id, { name: 'Jane Q.', metadata: { plan: null, tier: 'gold' } }));
    expect(renamed.metadata).toEqual({ tier: 'gold' });
    const replaced = await step('upsertEndUser', () => sb.endUsers.upsert(externalId, { email: 'jane@example.org' }));
    expect(replaced).toMatchObject({ id: created.id, name: null, email: 'jane@example.org', metadata: {} });
    expect((await step('listEndUsers', () => sb.endUsers.list({ externalId }))).data.map((u) => u.id)).toEqual([created.id]);

    const agent = await sb.agents.create({ name: uniqueName('end-user agent'), model: 'echo' });
    const minted = await step('createEndUserToken', () => sb.endUsers.tokens.create(created.id, { ttlSeconds: 120 }));
    const asEndUser = new Switchboard({ baseUrl: inject('proxyUrl'), apiKey: minted.token, fetch: checkedFetch });
    const run = await asEndUser.runs.create({ agentId: agent.id, input: { hello: 'world' } });
    expect(run.endUserId).toBe(created.id);
    expect((await asEndUser.runs.list()).data.map((r) => r.id)).toEqual([run.id]);
    const forThem = new Switchboard({ baseUrl: inject('proxyUrl'), apiKey: inject('adminKey'), endUser: created.id, fetch: checkedFetch });
    expect((await forThem.runs.list()).data.map((r) => r.id)).toEqual([run.id]);
    // Not left queued for the runner of the next step.
    await sb.runs.cancel(run.id);

    const gone = await sb.endUsers.create({ externalId: `${externalId}-gone` });
    await step('deleteEndUser', () => sb.endUsers.delete(gone.id));
  });

  it('keeps a thread: its messages in order, its state, a copy', async () => {
    const agent = await sb.agents.create({ name: uniqueName('thread agent'), model: 'echo' });
    const thread = await step('createThread', () =>
      sb.threads.create(
        { agentId: agent.id, title: 'Order 4821', state: { orderId: '4821' }, messages: [{ role: 'user', content: [{ type: 'text', text: 'Where is it?' }] }] },
        { idempotencyKey: randomUUID() },
      ),
    );
    expect(thread.messageCount).toBe(1);
    const added = await step('appendThreadMessages', () =>
      sb.threads.messages.append(thread.id, {
        messages: [
          { role: 'assistant', content: [{ type: 'tool_call', id: 'call_1', name: 'lookup_order', arguments: { orderId: '4821' } }] },
          { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'call_1', content: '{"shipped":true}' }] },
        ],
      }),
    );
    expect(added.data.map((m) => m.seq)).toEqual([2, 3]);
    const page = await step('listThreadMessages', () => sb.threads.messages.list(thread.id, { after: 1 }));
    expect(page.data.map((m) => m.role)).toEqual(['assistant', 'tool']);
    const updated = await step('updateThread', () => sb.threads.update(thread.id, { state: { orderId: '4821', shipped: true } }));
    expect(updated.stateVersion).toBe(1);
    expect((await step('getThread', () => sb.threads.get(thread.id))).state).toEqual({ orderId: '4821', shipped: true });
    const copy = await step('copyThread', () => sb.threads.copy(thread.id, { upToSeq: 2 }));
    expect(copy.messageCount).toBe(2);
    expect((await step('listThreads', () => sb.threads.list({ agentId: agent.id }))).data.map((t) => t.id).sort()).toEqual([thread.id, copy.id].sort());
    const run = await step('createThreadRun', () =>
      sb.threads.runs.create(thread.id, { messages: [{ role: 'user', content: [{ type: 'text', text: 'And when?' }] }] }, { idempotencyKey: randomUUID() }),
    );
    expect(run).toMatchObject({ threadId: thread.id, status: 'queued' });
    // The open-ended stream is read from the server itself (Prism's proxy forwards a response once it ends).
    const ac = new AbortController();
    const direct = new Switchboard({ baseUrl: inject('serverUrl'), apiKey: inject('adminKey') });
    const firstOfThread = await step('streamThread', async () => (await direct.threads.stream(thread.id, { signal: ac.signal }).next()).value);
    ac.abort();
    expect(firstOfThread).toMatchObject({ runId: run.id, type: 'status' });
    expect((await sb.threads.get(thread.id)).status).toBe('busy');
    await sb.runs.cancel(run.id);
    await step('deleteThread', () => sb.threads.delete(copy.id));
    await sb.threads.delete(thread.id);
  });

  it('tracks work as tasks: filed, blocked, moved along, found and deleted', async () => {
    const agent = await sb.agents.create({ name: uniqueName('task agent'), model: 'echo' });
    const photos = await step('createTask', () => sb.tasks.create({ title: 'Get the photos', status: 'todo' }, { idempotencyKey: randomUUID() }));
    const refund = await sb.tasks.create({
      title: 'Refund order 10-2291',
      status: 'todo',
      priority: 'high',
      labels: ['refunds'],
      assignee: { type: 'agent', id: agent.id },
      blockedBy: [photos.id],
    });
    await step('transitionTask', () => sb.tasks.move(photos.id, { to: 'in_progress' }));
    await sb.tasks.move(photos.id, { to: 'done' });
    const started = await sb.tasks.move(refund.id, { to: 'in_progress' });
    expect(started.startedAt).not.toBeNull();
    const bulk = await step('bulkUpdateTasks', () =>
      sb.tasks.bulkUpdate({
        changes: [
          { taskId: photos.id, addLabels: ['photos'] },
          { taskId: refund.id, addLabels: ['checked'] },
        ],
      }),
    );
    expect(bulk.data.map((t) => t.labels)).toEqual([['photos'], ['refunds', 'checked']]);
    const updated = await step('updateTask', () => sb.tasks.update(refund.id, { priority: 'urgent', labels: ['refunds', 'escalated'] }));
    expect(updated.labels).toEqual(['refunds', 'escalated']);
    expect((await step('getTask', () => sb.tasks.get(refund.id))).status).toBe('in_progress');
    const found = await step('listTasks', () => sb.tasks.list({ assignee: agent.id, status: 'in_progress', q: 'refund 2291' }));
    expect(found.data.map((t) => t.id)).toEqual([refund.id]);
    await step('deleteTask', () => sb.tasks.delete(refund.id));
    await sb.tasks.delete(photos.id);
  });

  it('plans work in goals and projects, whose progress rolls up their tasks', async () => {
    const goal = await step('createGoal', () =>
      sb.goals.create({ title: uniqueName('Refunds within a day'), status: 'active' }, { idempotencyKey: randomUUID() }),
    );
    const project = await step('createProject', () => sb.projects.create({ name: uniqueName('Damaged parcels'), goalId: goal.id }));
    const task = await sb.tasks.create({ title: 'Refund 10-2291', status: 'todo', projectId: project.id });
    await sb.tasks.move(task.id, { to: 'in_progress' });
    await sb.tasks.move(task.id, { to: 'done' });
    expect((await step('getGoal', () => sb.goals.get(goal.id))).progress).toMatchObject({ total: 1, percentDone: 100 });
    expect((await step('listProjects', () => sb.projects.list({ goalId: goal.id }))).data.map((p) => p.progress.percentDone)).toEqual([100]);
    expect((await step('updateProject', () => sb.projects.update(project.id, { status: 'active' }))).status).toBe('active');
    expect((await step('getProject', () => sb.projects.get(project.id))).goalId).toBe(goal.id);
    expect((await step('updateGoal', () => sb.goals.update(goal.id, { status: 'achieved' }))).status).toBe('achieved');
    expect((await step('listGoals', () => sb.goals.list({ status: 'achieved' }))).data.map((g) => g.id)).toContain(goal.id);
    await sb.tasks.delete(task.id);
    await step('deleteProject', () => sb.projects.delete(project.id));
    await step('deleteGoal', () => sb.goals.delete(goal.id));
  });

  // Some 20 calls through the proxy, the installation's among them: a minute when the machine is busy.
  it('manages agents, their versions and their installations', { timeout: 60_000 }, async () => {
    const name = uniqueName('Contract agent');
    const agent = await step('createAgent', () =>
      sb.agents.create({
        name,
        model: 'gpt-4.1',
        labels: ['contract'],
        tools: [{ name: 'search', description: 'Search', inputSchema: { type: 'object' }, url: 'https://tools.example.com/search' }],
      }),
    );
    await step('getAgent', () => sb.agents.get(agent.id));
    const updated = await step('updateAgent', () => sb.agents.update(agent.id, { instructions: 'Be brief.', config: { temperature: 0.2 } }));
    expect(updated.version).toBe(2);
    expect((await step('listAgentVersions', () => sb.agents.versions.list(agent.id))).data.map((v) => v.version)).toEqual([2, 1]);
    expect((await step('getAgentVersion', () => sb.agents.versions.get(agent.id, 1))).instructions).toBe('');
    const pkg = await step('exportAgentPackage', () => sb.agents.versions.export(agent.id, 2));
    expect(pkg).toMatchObject({ format: 'switchboard.agent/1', instructions: 'Be brief.', source: { agentId: agent.id, version: 2 } });
    const installation = await step('createInstallation', () =>
      sb.installations.create({ package: pkg, name: `${name} installed`, inputDefaults: { region: 'eu' }, lockedInputs: ['region'] }),
    );
    expect(installation).toMatchObject({ sourceVersion: 2, packageDigest: pkg.digest, lockedInputs: ['region'] });
    expect((await step('listInstallations', () => sb.installations.list())).data.map((i) => i.id)).toContain(installation.id);
    expect((await step('getInstallation', () => sb.installations.get(installation.id))).agentId).toBe(installation.agentId);
    expect((await step('updateInstallation', () => sb.installations.update(installation.id, { model: 'gpt-4.1-mini' }))).model).toBe('gpt-4.1-mini');
    await step('deleteInstallation', () => sb.installations.delete(installation.id));
    expect((await step('pauseAgent', () => sb.agents.pause(agent.id))).status).toBe('paused');
    expect((await step('resumeAgent', () => sb.agents.resume(agent.id))).status).toBe('active');
    expect((await step('retireAgent', () => sb.agents.retire(agent.id))).status).toBe('retired');
    const listed = await step('listAgents', () => sb.agents.list({ q: name, status: 'retired', label: 'contract' }));
    expect(listed.data.map((a) => a.id)).toEqual([agent.id]);
    await step('deleteAgent', () => sb.agents.delete(agent.id));
  });

  // Some 30 calls through the proxy, and a run that waits on a person and resumes: a minute when the machine is busy.
  it('runs an agent with a runner from queue to success, and cancels another run', { timeout: 60_000 }, async () => {
    const secretName = `CONTRACT_${randomUUID().replace(/-/g, '').slice(0, 12).toUpperCase()}`;
    const secret = await step('createSecret', () =>
      sb.secrets.create({ name: secretName, value: 'contract-secret-v1', description: 'contract' }, { idempotencyKey: randomUUID() }),
    );
    expect(secret).toMatchObject({ name: secretName, currentVersion: 1 });
    expect((await step('createSecretVersion', () => sb.secrets.versions.create(secret.id, { value: 'contract-secret-v2' }))).version).toBe(2);
    expect((await step('listSecretVersions', () => sb.secrets.versions.list(secret.id))).data.map((v) => v.version)).toEqual([2, 1]);
    expect((await step('updateSecret', () => sb.secrets.update(secret.id, { description: 'contract runs' }))).description).toBe('contract runs');
    expect((await step('listSecrets', () => sb.secrets.list({ name: secretName }))).data.map((x) => x.id)).toEqual([secret.id]);
    const agent = await sb.agents.create({ name: uniqueName('Runs contract'), model: 'echo', labels: ['contract'], secrets: [secretName] });
    const registered = await step('registerRunner', () =>
      sb.runners.register({ name: 'contract runner', labels: ['contract', 'eu'] }, { idempotencyKey: randomUUID() }),
    );
    expect(registered.token).toMatch(/^sbr_/);
    await step('getRunner', () => sb.runners.get(registered.id));
    expect((await step('listRunners', () => sb.runners.list({ label: 'contract' }))).data.map((r) => r.id)).toContain(registered.id);
    const runner = new Switchboard({ baseUrl: inject('proxyUrl'), apiKey: registered.token, fetch: checkedFetch });

    const run = await step('createRun', () =>
      sb.runs.create({ agentId: agent.id, input: { q: 1 }, metadata: { order: '42' } }, { idempotencyKey: randomUUID(), endUser: 'contract-user' }),
    );
    expect(run.status).toBe('queued');
    expect(run.endUserId).toMatch(/^eu_/);
    const claim = await step('claimRun', () => runner.runners.claim(registered.id, { wait: 5 }));
    expect(claim?.run.id).toBe(run.id);
    expect(claim?.secrets).toEqual({ [secretName]: 'contract-secret-v2' });
    const accesses = await step('listSecretAccesses', () => sb.secrets.accesses.list(secret.id));
    expect(accesses.data.map((a) => [a.runId, a.runnerId, a.version])).toEqual([[run.id, registered.id, 2]]);
    expect((await step('getSecret', () => sb.secrets.get(secret.id))).lastAccessedAt).toBe(accesses.data[0]!.createdAt);
    const first = claim!.lease;
    const beat = await step('heartbeatLease', () => runner.runners.heartbeat(first.id, { fencingToken: first.fencingToken }));
    expect(beat.run.status).toBe('running');
    const batch = await step('appendRunEvents', () =>
      runner.runners.appendEvents(first.id, { fencingToken: first.fencingToken, events: [{ runnerSeq: 1, type: 'log', data: { message: 'hello' } }] }),
    );
    expect(batch.accepted).toBe(1);
    // The run asks a person with its run token, and waits holding no lease; a person decides; the
    // next claim resumes it with a new lease and the outcome.
    const agentClient = new Switchboard({ baseUrl: inject('proxyUrl'), apiKey: claim!.runToken.token, fetch: checkedFetch });
    // With the same token the run takes a task to work on and gives it up.
    const work = await sb.tasks.create({ title: 'Ship 1.2.0', status: 'todo' });
    expect((await step('checkoutTask', () => agentClient.tasks.checkout(work.id))).checkout?.runId).toBe(run.id);
    expect((await step('releaseTask', () => agentClient.tasks.release(work.id))).status).toBe('todo');
    const note = await step('createTaskComment', () => agentClient.tasks.comments.create(work.id, { body: 'Released: waiting on a person first.' }));
    expect(note.author).toEqual({ type: 'run', id: run.id });
    expect((await step('listTaskComments', () => sb.tasks.comments.list(work.id))).data.map((c) => c.id)).toEqual([note.id]);
    // It reports a call it made itself, and the cost report counts it.
    const own = await step('reportRunUsage', () =>
      agentClient.runs.reportUsage(run.id, { requestId: 'chatcmpl-contract', model: 'gpt-4o-mini', inputTokens: 12, outputTokens: 3, costMicros: 9 }),
    );
    expect(own).toMatchObject({ runId: run.id, costMicros: 9, pricingStatus: 'priced' });
    const budget = await step('createBudget', () =>
      sb.budgets.create({ name: 'Contract agent', scope: { type: 'agent', id: agent.id }, window: 'day', amountMicros: 1_000_000, thresholds: [50] }),
    );
    expect(budget.status).toMatchObject({ spentMicros: 9, reservedMicros: 0, remainingMicros: 1_000_000 - 9 });
    expect((await step('listBudgets', () => sb.budgets.list({ scopeId: agent.id }))).data.map((b) => b.id)).toEqual([budget.id]);
    expect((await step('updateBudget', () => sb.budgets.update(budget.id, { amountMicros: 2_000_000 }))).amountMicros).toBe(2_000_000);
    expect((await step('getBudget', () => sb.budgets.get(budget.id))).status.remainingMicros).toBe(2_000_000 - 9);
    await step('deleteBudget', () => sb.budgets.delete(budget.id));
    const kb = await step('createKnowledgeBase', () => sb.knowledgeBases.create({ name: 'Contract handbook', metadata: { team: 'support' } }));
    expect(kb.chunking).toEqual({ maxTokens: 512, overlapTokens: 64 });
    expect((await step('listKnowledgeBases', () => sb.knowledgeBases.list())).data.map((b) => b.id)).toContain(kb.id);
    expect((await step('updateKnowledgeBase', () => sb.knowledgeBases.update(kb.id, { chunking: { maxTokens: 256 } }))).chunking).toEqual({
      maxTokens: 256,
      overlapTokens: 64,
    });
    expect((await step('getKnowledgeBase', () => sb.knowledgeBases.get(kb.id))).name).toBe('Contract handbook');
    const doc = await step('createKnowledgeDocument', () =>
      sb.knowledgeDocuments.create(kb.id, { name: 'Refunds', markdown: '# Refunds\n\nA refund takes five business days.', metadata: { lang: 'en' } }),
    );
    expect(doc.status).toBe('queued');
    let indexed = doc;
    for (let i = 0; i < 200 && indexed.status !== 'indexed'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      indexed = await step('getKnowledgeDocument', () => sb.knowledgeDocuments.get(kb.id, doc.id));
    }
    expect(indexed).toMatchObject({ status: 'indexed', version: 1 });
    expect((await step('listKnowledgeDocuments', () => sb.knowledgeDocuments.list(kb.id, { metadata: ['lang:en'] }))).data.map((d) => d.id)).toEqual([doc.id]);
    expect(await step('getKnowledgeDocumentContent', () => sb.knowledgeDocuments.content(kb.id, doc.id))).toContain('five business days');
    expect((await step('listKnowledgeChunks', () => sb.knowledgeDocuments.chunks(kb.id, doc.id))).data[0]!.headingPath).toEqual(['Refunds']);
    const hits = await step('queryKnowledgeBase', () => sb.knowledgeBases.query(kb.id, { query: 'refund days', filter: { lang: 'en' } }));
    expect(hits.data[0]).toMatchObject({ documentId: doc.id, rank: 1 });
    expect((await step('queryKnowledge', () => sb.knowledgeBases.queryMany({ knowledgeBaseIds: [kb.id], query: 'refund' }))).data).toHaveLength(1);
    expect(
      (await step('replaceKnowledgeDocument', () => sb.knowledgeDocuments.replace(kb.id, doc.id, { name: 'Refunds', markdown: '# Refunds\n\nThree days.' })))
        .status,
    ).toBe('queued');
    await step('deleteKnowledgeDocument', () => sb.knowledgeDocuments.delete(kb.id, doc.id));
    await step('deleteKnowledgeBase', () => sb.knowledgeBases.delete(kb.id));
    const board = await step('getDashboard', () => sb.dashboard.get());
    expect(board.runs.now.running).toBeGreaterThan(0);
    const report = await step('getCosts', () => sb.costs.get({ agentId: agent.id, groupBy: 'source' }));
    expect(report.groups).toEqual([expect.objectContaining({ key: 'runner_report', costMicros: 9, requests: 1 })]);
    const asked = await step('createRunApproval', () =>
      agentClient.approvals.request(
        run.id,
        { title: 'Ship it?', payload: { version: '1.2.0' }, payloadSchema: { type: 'object' } },
        { idempotencyKey: randomUUID() },
      ),
    );
    expect(asked.status).toBe('pending');
    expect((await sb.runs.get(run.id)).waitingFor).toMatchObject({ kind: 'approval', approvalId: asked.id });
    expect((await step('getApproval', () => sb.approvals.get(asked.id))).title).toBe('Ship it?');
    expect((await step('listApprovals', () => sb.approvals.list({ runId: run.id }))).data.map((a) => a.id)).toEqual([asked.id]);
    expect((await step('listInbox', () => sb.inbox.list({ agentId: agent.id }))).data.map((a) => a.id)).toEqual([asked.id]);
    // The open-ended stream is read from the server itself (Prism's proxy forwards a response once it ends).
    const inboxAbort = new AbortController();
    const inboxStream = new Switchboard({ baseUrl: inject('serverUrl'), apiKey: inject('adminKey') }).inbox.stream({
      agentId: agent.id,
      signal: inboxAbort.signal,
    });
    const requested = await step('streamInbox', async () => (await inboxStream.next()).value);
    inboxAbort.abort();
    expect(requested).toMatchObject({ type: 'approval.requested', runId: run.id, data: { id: asked.id } });
    await step('createApprovalComment', () => sb.approvals.comments.create(asked.id, { body: 'Looks good.' }, { idempotencyKey: randomUUID() }));
    expect((await step('listApprovalComments', () => sb.approvals.comments.list(asked.id))).data.map((c) => c.body)).toEqual(['Looks good.']);
    const decided = await step('decideApproval', () =>
      sb.approvals.decide(asked.id, { outcome: 'approve', editedPayload: { version: '1.2.1' } }, { idempotencyKey: randomUUID() }),
    );
    expect(decided.status).toBe('approved');
    const resumed = await runner.runners.claim(registered.id, { wait: 5 });
    expect(resumed?.resume).toMatchObject({ approvalId: asked.id, status: 'approved', payload: { version: '1.2.1' } });
    const lease = resumed!.lease;
    const done = await step('completeRun', () =>
      runner.runners.complete(lease.id, {
        fencingToken: lease.fencingToken,
        status: 'succeeded',
        output: { answer: 42 },
        usage: { inputTokens: 3, outputTokens: 5 },
        costMicros: 120,
      }),
    );
    // The completion's usage and the call the run reported before, once each.
    expect(done).toMatchObject({ status: 'succeeded', output: { answer: 42 }, costMicros: 120 + 9, usage: { inputTokens: 3 + 12, outputTokens: 5 + 3 } });
    expect((await step('getRun', () => sb.runs.get(run.id))).status).toBe('succeeded');
    const events = await step('listRunEvents', () => sb.runs.events(run.id, { limit: 100 }));
    expect(events.data.map((e) => e.type)).toEqual([
      'status',
      'status',
      'log',
      'approval.requested',
      'status',
      'approval.decided',
      'status',
      'status',
      'status',
    ]);
    const streamed = await step('streamRun', () => drain(sb.runs.stream(run.id)));
    expect(streamed.map((e) => e.seq)).toEqual(events.data.map((e) => e.seq));

    const other = await sb.runs.create({ agentId: agent.id });
    expect((await step('cancelRun', () => sb.runs.cancel(other.id))).status).toBe('cancelled');
    expect((await step('listRuns', () => sb.runs.list({ agentId: agent.id, status: 'cancelled' }))).data.map((r) => r.id)).toEqual([other.id]);

    // Prism's proxy forwards a response only once it ends, so the open-ended streams are read from the
    // server itself; their events are the RunEvent objects listRunEvents returns through the proxy.
    const direct = new Switchboard({ baseUrl: inject('serverUrl'), apiKey: inject('adminKey') });
    const ac = new AbortController();
    const agentEvents = direct.runs.streamAll({ agentId: agent.id, signal: ac.signal });
    const firstOfAgent = await step('streamAgentRuns', async () => (await agentEvents.next()).value);
    expect(firstOfAgent?.runId).toBe(run.id);
    const allEvents = direct.runs.streamAll({ signal: ac.signal });
    await step('streamRuns', async () => (await allEvents.next()).value);
    ac.abort();

    await step('deleteRunner', () => sb.runners.delete(registered.id));
    await step('deleteSecret', () => sb.secrets.delete(secret.id));
  });

  it('manages schedules', async () => {
    const agent = await sb.agents.create({ name: uniqueName('Scheduled'), model: 'echo' });
    const schedule = await step('createSchedule', () =>
      sb.schedules.create({ name: 'Nightly', agentId: agent.id, cron: '0 2 * * *', timezone: 'Europe/Paris', input: { report: 'daily' } }),
    );
    expect(schedule.nextRunAt).toMatch(/T0[01]:00:00\.000Z$/);
    await step('getSchedule', () => sb.schedules.get(schedule.id));
    expect((await step('updateSchedule', () => sb.schedules.update(schedule.id, { cron: '30 2 * * *', metadata: { team: 'ops' } }))).cron).toBe('30 2 * * *');
    expect((await step('pauseSchedule', () => sb.schedules.pause(schedule.id))).nextRunAt).toBeNull();
    expect((await step('resumeSchedule', () => sb.schedules.resume(schedule.id))).status).toBe('active');
    expect((await step('listSchedules', () => sb.schedules.list({ agentId: agent.id, sort: '-nextRunAt' }))).data.map((s) => s.id)).toEqual([schedule.id]);
    expect((await step('listScheduleRuns', () => sb.schedules.runs(schedule.id))).data).toEqual([]);
    await step('deleteSchedule', () => sb.schedules.delete(schedule.id));
  });

  it('manages triggers and starts a run from a signed inbound call', async () => {
    const agent = await sb.agents.create({ name: uniqueName('Triggered'), model: 'echo' });
    const trigger = await step('createTrigger', () => sb.triggers.create({ name: 'Orders', agentId: agent.id, inputMapping: { order: '/order/id' } }));
    expect(trigger.secret).toMatch(/^whsec_/);
    await step('getTrigger', () => sb.triggers.get(trigger.id));
    expect((await step('updateTrigger', () => sb.triggers.update(trigger.id, { name: 'Order events' }))).name).toBe('Order events');
    expect((await step('pauseTrigger', () => sb.triggers.pause(trigger.id))).status).toBe('paused');
    expect((await step('resumeTrigger', () => sb.triggers.resume(trigger.id))).status).toBe('active');
    const rotated = await step('rotateTriggerSecret', () => sb.triggers.rotateSecret(trigger.id));
    const external = new Switchboard({ baseUrl: inject('proxyUrl'), fetch: checkedFetch });
    const invocation = await step('invokeTrigger', () => external.triggers.invoke(trigger.id, { order: { id: 42 } }, { secret: rotated.secret }));
    expect((await sb.runs.get(invocation.runId)).input).toEqual({ order: 42 });
    expect((await step('listTriggers', () => sb.triggers.list({ agentId: agent.id }))).data.map((t) => t.id)).toEqual([trigger.id]);
    await step('deleteTrigger', () => sb.triggers.delete(trigger.id));
  });

  it('manages a webhook endpoint and reads what it was sent', async () => {
    const received: string[] = [];
    const receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received.push(String(req.headers['webhook-id']));
        res.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
      const endpoint = await step('createWebhookEndpoint', () =>
        sb.webhookEndpoints.create({ url, eventTypes: ['webhook_endpoint.*'], description: 'Contract' }),
      );
      expect(endpoint.secret).toMatch(/^whsec_/);
      await step('getWebhookEndpoint', () => sb.webhookEndpoints.get(endpoint.id));
      expect((await step('updateWebhookEndpoint', () => sb.webhookEndpoints.update(endpoint.id, { description: 'Renamed' }))).description).toBe('Renamed');
      expect((await step('rotateWebhookEndpointSecret', () => sb.webhookEndpoints.rotateSecret(endpoint.id))).previousSecretExpiresAt).not.toBeNull();
      const ping = await step('testWebhookEndpoint', () => sb.webhookEndpoints.test(endpoint.id));
      expect(ping.eventType).toBe('webhook_endpoint.ping');
      const delivered = async () => {
        for (let i = 0; i < 100 && (await sb.webhookMessages.get(ping.id)).status !== 'succeeded'; i++) await new Promise((r) => setTimeout(r, 100));
        return step('getWebhookMessage', () => sb.webhookMessages.get(ping.id));
      };
      expect((await delivered()).status).toBe('succeeded');
      expect(received).toContain(ping.id);
      expect(
        (await step('listWebhookMessages', () => sb.webhookEndpoints.messages(endpoint.id, { eventType: 'webhook_endpoint.ping' }))).data.map((m) => m.id),
      ).toEqual([ping.id]);
      expect((await step('redeliverWebhookMessage', () => sb.webhookMessages.redeliver(ping.id))).status).toBe('pending');
      expect((await delivered()).attempts).toBe(2);
      expect((await step('listWebhookAttempts', () => sb.webhookMessages.attempts(ping.id))).data.map((a) => a.statusCode)).toEqual([200, 200]);
      expect((await step('listWebhookEndpoints', () => sb.webhookEndpoints.list({ enabled: true }))).data.map((e) => e.id)).toContain(endpoint.id);
      await step('deleteWebhookEndpoint', () => sb.webhookEndpoints.delete(endpoint.id));
    } finally {
      receiver.close();
    }
  });

  it('manages model providers and model aliases', async () => {
    const name = uniqueName('Contract provider');
    const provider = await step('createModelProvider', () =>
      sb.modelProviders.create({ name, kind: 'openai', credential: 'sk-proj-contract-0123456789' }, { idempotencyKey: randomUUID() }),
    );
    expect(provider).toMatchObject({ baseUrl: 'https://api.openai.com/v1', hasCredential: true, credentialLast4: '6789' });
    await step('getModelProvider', () => sb.modelProviders.get(provider.id));
    const updated = await step('updateModelProvider', () =>
      sb.modelProviders.update(provider.id, { headers: { 'OpenAI-Organization': 'org-42' }, credential: null }),
    );
    expect(updated).toMatchObject({ headers: { 'OpenAI-Organization': 'org-42' }, hasCredential: false });
    expect((await step('listModelProviders', () => sb.modelProviders.list({ kind: 'openai', sort: 'name', pageSize: 100 }))).data.map((p) => p.id)).toContain(
      provider.id,
    );

    const alias = `contract-${randomUUID()}`;
    const model = await step('createModel', () =>
      sb.models.create(
        { alias, providerId: provider.id, upstreamModel: 'gpt-4.1-mini', pricing: { inputMicrosPerMillionTokens: 400000 } },
        { idempotencyKey: randomUUID() },
      ),
    );
    expect(model.api).toBe('chat');
    await step('getModel', () => sb.models.get(model.id));
    const repriced = await step('updateModel', () => sb.models.update(model.id, { pricing: { outputMicrosPerMillionTokens: 1600000 } }));
    expect(repriced.pricing).toMatchObject({ inputMicrosPerMillionTokens: 400000, outputMicrosPerMillionTokens: 1600000 });
    expect((await step('listModels', () => sb.models.list({ providerId: provider.id, api: 'chat', sort: 'alias' }))).data.map((m) => m.id)).toEqual([model.id]);
    await step('deleteModel', () => sb.models.delete(model.id));
    await step('deleteModelProvider', () => sb.modelProviders.delete(provider.id));
  });

  it('uploads audio, transcribes it, reads it in every format, cancels and deletes jobs, and serves the OpenAI passthrough', async () => {
    const provider = await startTestProvider();
    try {
      const providerRow = await sb.modelProviders.create({ name: uniqueName('Contract provider'), kind: 'openai-compatible', baseUrl: provider.openaiBaseUrl });
      const alias = `contract-${randomUUID()}`;
      await sb.models.create({ alias, providerId: providerRow.id, upstreamModel: 'whisper-1', api: 'transcription', retry: { attempts: 0 } });
      const upload = await step('createUpload', () => sb.uploads.create({ file: audioFile() }, { idempotencyKey: randomUUID() }));
      expect(upload.filename).toBe('standup.wav');
      expect((await step('getUpload', () => sb.uploads.get(upload.id))).sha256).toBe(upload.sha256);

      provider.reply({ text: 'Contract text.', transcript: { duration: 2, segments: [{ start: 0, end: 2, text: ' Contract text.' }] } });
      const job = await step('createTranscription', () =>
        sb.transcriptions.create({ uploadId: upload.id, model: alias, timestamps: 'word' }, { idempotencyKey: randomUUID() }),
      );
      for (let i = 0; i < 100 && (await sb.transcriptions.get(job.id)).status !== 'succeeded'; i++) await new Promise((r) => setTimeout(r, 50));
      expect((await step('getTranscription', () => sb.transcriptions.get(job.id))).text).toBe('Contract text.');
      for (const format of ['txt', 'srt', 'vtt', 'json'] as const) await step('getTranscriptionContent', () => sb.transcriptions.content(job.id, { format }));
      expect((await step('listTranscriptions', () => sb.transcriptions.list({ model: alias, status: 'succeeded' }))).data.map((t) => t.id)).toEqual([job.id]);

      provider.reply({ hang: true });
      const held = await sb.transcriptions.create({ uploadId: upload.id, model: alias });
      expect((await step('cancelTranscription', () => sb.transcriptions.cancel(held.id))).status).toBe('cancelled');
      await step('deleteTranscription', () => sb.transcriptions.delete(job.id));
      await step('deleteUpload', () => sb.uploads.delete(upload.id));

      provider.reply({ text: 'Passed through.' });
      const passed = await step('createAudioTranscription', () =>
        generated.createAudioTranscription({ ...raw, body: { file: audioFile(), model: alias, response_format: 'json' } }),
      );
      expect(passed.data).toMatchObject({ text: 'Passed through.' });
    } finally {
      await provider.close();
    }
  });

  it("calls models through the gateway in both providers' wire formats", async () => {
    const provider = await startTestProvider();
    try {
      const openai = await sb.modelProviders.create({ name: uniqueName('Contract OpenAI'), kind: 'openai-compatible', baseUrl: provider.openaiBaseUrl });
      const anthropic = await sb.modelProviders.create({ name: uniqueName('Contract Anthropic'), kind: 'anthropic', baseUrl: provider.openaiBaseUrl });
      const chat = `contract-chat-${randomUUID()}`;
      const embeddings = `contract-embeddings-${randomUUID()}`;
      const messages = `contract-messages-${randomUUID()}`;
      await sb.models.create({ alias: chat, providerId: openai.id, upstreamModel: 'test-large' });
      await sb.models.create({ alias: embeddings, providerId: openai.id, upstreamModel: 'test-embed', api: 'embeddings' });
      await sb.models.create({ alias: messages, providerId: anthropic.id, upstreamModel: 'test-claude' });
      const hello = [{ role: 'user', content: 'Say hello.' }];

      provider.reply({ text: 'Hello from chat.' });
      const completion = await step('createChatCompletion', () => generated.createChatCompletion({ ...raw, body: { model: chat, messages: hello } }));
      expect(JSON.stringify(completion.data)).toContain('Hello from chat.');
      await step('createEmbeddings', () => generated.createEmbeddings({ ...raw, body: { model: embeddings, input: 'Hello' } }));
      const listed = await step('listGatewayModels', () => generated.listGatewayModels(raw));
      expect(JSON.stringify(listed.data)).toContain(chat);
      provider.reply({ text: 'Hello from messages.' });
      const message = await step('createAnthropicMessage', () =>
        generated.createAnthropicMessage({ ...raw, body: { model: messages, max_tokens: 64, messages: hello } }),
      );
      expect(JSON.stringify(message.data)).toContain('Hello from messages.');
      await step('countAnthropicTokens', () => generated.countAnthropicTokens({ ...raw, body: { model: messages, messages: hello } }));
    } finally {
      await provider.close();
    }
  });

  it('connects a provider through a connect link, calls it through the proxy, refreshes and revokes', async () => {
    const providers = await step('listConnectionProviders', () => sb.connectionProviders.list());
    expect(providers.data.map((p) => p.id)).toEqual(['testbasic', 'testkey', 'testoauth']);
    const client = inject('oauthClient');
    const integration = await step('createIntegration', () =>
      sb.integrations.create({ providerId: 'testoauth', oauthClient: client }, { idempotencyKey: randomUUID() }),
    );
    expect(integration.oauthClient).toEqual({ clientId: client.clientId, hasClientSecret: true });
    expect((await step('listIntegrations', () => sb.integrations.list())).data.map((i) => i.id)).toContain(integration.id);
    expect((await step('getIntegration', () => sb.integrations.get(integration.id))).providerId).toBe('testoauth');
    const session = await step('createConnectSession', () => sb.connectSessions.create({ integrationId: integration.id }));
    // A browser's routes, straight to the server: the proxy would follow the redirects to the authorization server.
    const serverUrl = inject('serverUrl');
    const authorize = await step('openConnectLink', () =>
      generated.openConnectLink({
        ...raw,
        baseUrl: serverUrl,
        path: { connectToken: session.connectUrl.split('/').pop()! },
        fetch: redirectAsAnswer,
        parseAs: 'text',
      }),
    );
    const callback = new URL((await fetch(authorize.data, { redirect: 'manual' })).headers.get('location')!);
    const done = await step('completeOAuthConnection', () =>
      generated.completeOAuthConnection({
        ...raw,
        baseUrl: serverUrl,
        query: { state: callback.searchParams.get('state')!, code: callback.searchParams.get('code')! },
        parseAs: 'text',
      }),
    );
    expect(done.data).toContain('Connected');
    const [connection] = (await step('listConnections', () => sb.connections.list({ integrationId: integration.id }))).data;
    expect(connection).toMatchObject({ status: 'active', authType: 'oauth2' });
    expect((await step('getConnection', () => sb.connections.get(connection!.id))).owner).toEqual({ type: 'application', id: null });
    const answer = await step('proxyConnection', () => sb.connections.proxy(connection!.id, { method: 'GET', url: '/me' }));
    expect(answer).toMatchObject({ status: 200, bodyEncoding: 'utf8' });
    expect((await step('refreshConnection', () => sb.connections.refresh(connection!.id))).lastRefreshedAt).not.toBeNull();
    await step('deleteConnection', () => sb.connections.delete(connection!.id));
    const keyed = await sb.integrations.create({ providerId: 'testkey' });
    const link = await sb.connectSessions.create({ integrationId: keyed.id });
    const page = await step('submitConnectForm', () =>
      generated.submitConnectForm({
        ...raw,
        path: { connectToken: link.connectUrl.split('/').pop()! },
        body: { apiKey: 'contract-form-key-0123' },
        parseAs: 'text',
      }),
    );
    expect(page.data).toContain('Connected');
    const made = await step('createConnection', () => sb.connections.create({ integrationId: keyed.id, credentials: { apiKey: 'contract-key-0123' } }));
    expect(made).toMatchObject({ status: 'active', authType: 'api_key' });
    await step('deleteIntegration', () => sb.integrations.delete(keyed.id));
    await sb.integrations.delete(integration.id);
  });

  it('reads the audit log, verifies its chain and shows it as activity', async () => {
    const agent = await sb.agents.create({ name: uniqueName('Audited'), model: 'echo' });
    const page = await step('listAuditEvents', () => sb.auditEvents.list({ resourceId: agent.id, action: 'agent.' }));
    expect(page.data.map((e) => e.action)).toEqual(['agent.create']);
    expect((await step('getAuditEvent', () => sb.auditEvents.get(page.data[0]!.id))).hash).toBe(page.data[0]!.hash);
    const verified = await step('verifyAuditEvents', () => sb.auditEvents.verify({ from: page.data[0]!.position }));
    expect(verified).toMatchObject({ valid: true, from: page.data[0]!.position, firstBreak: null });
    const activity = await step('listActivity', () => sb.activity.list({ resourceId: agent.id }));
    expect(activity.data[0]!.summary).toBe(`${activity.data[0]!.actor.name} created agent ${agent.name}`);

    const job = await step('createAuditExport', () =>
      sb.auditEvents.exports.create({ format: 'ndjson', filters: { resourceId: agent.id } }, { idempotencyKey: randomUUID() }),
    );
    expect(job.status).toBe('queued');
    let done = job;
    for (let i = 0; i < 100 && !['succeeded', 'failed'].includes(done.status); i++) {
      await new Promise((r) => setTimeout(r, 100));
      done = await step('getAuditExport', () => sb.auditEvents.exports.get(job.id));
    }
    expect(done).toMatchObject({ status: 'succeeded', rowCount: 1 });
    const file = await step('getAuditExportContent', () => sb.auditEvents.exports.content(job.id));
    expect(createHash('sha256').update(String(file)).digest('hex')).toBe(done.sha256);
    expect(JSON.parse(String(file))).toMatchObject({ id: page.data[0]!.id, action: 'agent.create' });

    const costJob = await step('createCostExport', () =>
      sb.costs.exports.create({ from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString(), groupBy: 'agent' }),
    );
    let costsDone = costJob;
    for (let i = 0; i < 100 && !['succeeded', 'failed'].includes(costsDone.status); i++) {
      await new Promise((r) => setTimeout(r, 100));
      costsDone = await step('getCostExport', () => sb.costs.exports.get(costJob.id));
    }
    expect(costsDone.status).toBe('succeeded');
    const costsFile = String(await step('getCostExportContent', () => sb.costs.exports.content(costJob.id)));
    expect(costsFile.split('\r\n')[0]).toBe('key,costMicros,requests,unpricedRequests,inputTokens,outputTokens');
    expect(createHash('sha256').update(costsFile).digest('hex')).toBe(costsDone.sha256);
  });

  it('answers errors as problems that match the spec', async () => {
    const err = await sb.agents.get('agent_01jd4x7p2kf8q6v3b9m5t0s1ab').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe('not-found');
    expect((err as SwitchboardError).requestId).toMatch(/^req_/);
  });

  it('used every operation of the spec', () => {
    expect([...covered].sort()).toEqual([...operationIds].sort());
  });

  it('left an audit event for every change it made, by the request that made it', async () => {
    const mutating = operations.filter((o) => o.method !== 'get');
    expect(mutating.filter((o) => !o.auditAction).map((o) => o.operationId)).toEqual([]);
    const db = inspectDatabase();
    try {
      const ids = [...requestIds.values()].flat();
      const rows: { request_id: string; operation_id: string; action: string; outcome: string }[] = [];
      for (let i = 0; i < ids.length; i += 500) {
        rows.push(
          ...(await db('audit_events')
            .whereIn('request_id', ids.slice(i, i + 500))
            .select<typeof rows>('request_id', 'operation_id', 'action', 'outcome')),
        );
      }
      const unaudited = mutating.filter(
        (op) =>
          !rows.some(
            (r) =>
              r.operation_id === op.operationId &&
              r.action === op.auditAction &&
              r.outcome === 'succeeded' &&
              requestIds.get(op.operationId)?.includes(r.request_id),
          ),
      );
      expect(unaudited.map((op) => op.operationId)).toEqual([]);
    } finally {
      await db.destroy();
    }
  });
});
