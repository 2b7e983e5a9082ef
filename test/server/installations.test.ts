import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { createApplication, createKey } from './helpers.js';
import { call, expectProblem, isolatedApp, newAgent, type Agent, type Conn, type Run } from './run-helpers.js';

type Installation = components['schemas']['Installation'];
type AgentPackage = components['schemas']['AgentPackage'];
type AgentVersion = components['schemas']['AgentVersion'];

/** `author`: the application agents are made in; `editor`: another application of the organization that installs them. */
let author: Conn;
let editor: Conn;
/** A key of the editor's application without the admin scope. */
let editorWriter: Conn;

const SCHEMA = {
  type: 'object',
  properties: { ticket: { type: 'string', minLength: 1 }, language: { type: 'string', default: 'en' }, tone: { type: 'string', default: 'neutral' } },
  required: ['ticket'],
};

beforeAll(async () => {
  const a = await isolatedApp('install-author');
  author = { baseUrl: inject('serverUrl'), key: a.key };
  const app = await createApplication(a.adminKey);
  const admin = await createKey({ scopes: ['admin'], by: a.adminKey, appId: app.id });
  editor = { baseUrl: inject('serverUrl'), key: admin.secret };
  editorWriter = { baseUrl: inject('serverUrl'), key: (await createKey({ scopes: ['read', 'write'], by: admin.secret })).secret };
});

async function install(conn: Conn, body: Record<string, unknown>): Promise<Installation> {
  const r = await call<Installation>(conn, 'POST', '/api/v1/installations', body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}
const agentOf = async (conn: Conn, id: string) => (await call<Agent>(conn, 'GET', `/api/v1/agents/${id}`)).body;
const runInput = async (conn: Conn, agentId: string, input: Record<string, unknown>) => call<Run>(conn, 'POST', '/api/v1/runs', { agentId, input });

describe('input schemas', () => {
  it("fill a run's input from the schema's defaults and refuse input that does not fit, naming the field", async () => {
    const agent = await newAgent(author, { inputSchema: SCHEMA });
    expect(agent.inputSchema).toEqual(SCHEMA);
    const run = await runInput(author, agent.id, { ticket: 'T-1', tone: 'warm' });
    expect(run.status, JSON.stringify(run.body)).toBe(201);
    expect(run.body.input).toEqual({ ticket: 'T-1', language: 'en', tone: 'warm' });
    const missing = expectProblem(await runInput(author, agent.id, { language: 'fr' }), 422, 'validation-error', 'ticket');
    expect(missing.errors!.map((e) => e.pointer)).toEqual(['/input/ticket']);
    const wrong = expectProblem(await runInput(author, agent.id, { ticket: 7 }), 422, 'validation-error');
    expect(wrong.errors!.map((e) => e.pointer)).toEqual(['/input/ticket']);

    const version = (await call<AgentVersion>(author, 'GET', `/api/v1/agents/${agent.id}/versions/1`)).body;
    expect(version.inputSchema).toEqual(SCHEMA);
    const changed = await call<Agent>(author, 'PATCH', `/api/v1/agents/${agent.id}`, { inputSchema: null });
    expect(changed.body).toMatchObject({ version: 2, inputSchema: null });
    expect((await runInput(author, agent.id, { anything: true })).status).toBe(201);
  });

  it('refuse a schema that does not compile or does not describe an object', async () => {
    const bad = await call(author, 'POST', '/api/v1/agents', {
      name: 'x',
      model: 'gpt-4.1',
      inputSchema: { type: 'object', properties: { a: { type: 'nonsense' } } },
    });
    expect(expectProblem(bad, 422, 'validation-error', 'does not compile').errors!.map((e) => e.pointer)).toEqual(['/inputSchema']);
    const notObject = await call(author, 'POST', '/api/v1/agents', { name: 'x', model: 'gpt-4.1', inputSchema: { type: 'string' } });
    expect(expectProblem(notObject, 422, 'validation-error').errors!.map((e) => e.pointer)).toEqual(['/inputSchema/type']);
  });
});

describe('installations', () => {
  it('export a version as a package with its knowledge bases by name, and install it elsewhere from the package', async () => {
    const kb = (await call<{ id: string }>(author, 'POST', '/api/v1/knowledge-bases', { name: 'Product handbook' })).body;
    const agent = await newAgent(author, {
      instructions: 'Answer from the handbook.',
      inputSchema: SCHEMA,
      secrets: ['CRM_TOKEN'],
      tools: [{ name: 'search_knowledge', kind: 'builtin', knowledgeBaseIds: [kb.id] }],
    });
    const exported = await call<AgentPackage>(author, 'GET', `/api/v1/agents/${agent.id}/versions/1/package`);
    expect(exported.status, JSON.stringify(exported.body)).toBe(200);
    const pkg = exported.body;
    expect(pkg).toMatchObject({
      object: 'agent_package',
      format: 'switchboard.agent/1',
      name: agent.name,
      instructions: 'Answer from the handbook.',
      secrets: ['CRM_TOKEN'],
      knowledgeBases: ['Product handbook'],
      tools: [{ name: 'search_knowledge', kind: 'builtin' }],
      inputSchema: SCHEMA,
      source: { agentId: agent.id, version: 1 },
    });
    expect(pkg.tools[0]).not.toHaveProperty('knowledgeBaseIds');
    expect(pkg.digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    // Another application (another organization would do as well): nothing in common but the package.
    const stranger: Conn = { baseUrl: inject('serverUrl'), key: (await isolatedApp('install-stranger')).key };

    const missing = expectProblem(await call(stranger, 'POST', '/api/v1/installations', { package: pkg }), 422, 'validation-error', 'Product handbook');
    expect(missing.errors!.map((e) => e.pointer)).toEqual(['/package/knowledgeBases/0']);
    const theirKb = (await call<{ id: string }>(stranger, 'POST', '/api/v1/knowledge-bases', { name: 'Product handbook' })).body;
    const tampered = { ...pkg, instructions: 'Ignore the handbook.' };
    expectProblem(await call(stranger, 'POST', '/api/v1/installations', { package: tampered }), 422, 'validation-error', 'digest');
    const { digest: _digest, ...handEdited } = tampered;
    const installed = await install(stranger, { package: handEdited, name: 'Handbook helper' });
    expect(installed).toMatchObject({ sourceAgentId: null, sourceApplicationId: null, sourceVersion: 1, channel: null, pinnedVersion: null, syncError: null });
    const theirs = await agentOf(stranger, installed.agentId);
    expect(theirs).toMatchObject({ name: 'Handbook helper', instructions: 'Ignore the handbook.', installationId: installed.id, secrets: ['CRM_TOKEN'] });
    expect(theirs.tools[0]!.knowledgeBaseIds).toEqual([theirKb.id]);
    expectProblem(await call(stranger, 'POST', '/api/v1/installations', { source: { agentId: 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab' } }), 404, 'not-found');
  });

  it('resolve input in four layers, refuse locked fields, follow the latest channel and keep managed fields to the installation', async () => {
    const source = await newAgent(author, { instructions: 'v1', inputSchema: SCHEMA });
    const installation = await install(editor, {
      source: { agentId: source.id, channel: 'latest' },
      inputDefaults: { language: 'fr', tone: 'formal' },
      lockedInputs: ['language'],
    });
    expect(installation).toMatchObject({ sourceAgentId: source.id, sourceVersion: 1, channel: 'latest', pinnedVersion: null, lockedInputs: ['language'] });
    const agentId = installation.agentId;

    // author default < editor default < schedule values < run input; a locked field keeps the editor's value.
    const run = await runInput(editor, agentId, { ticket: 'T-2', tone: 'warm' });
    expect(run.body.input).toEqual({ ticket: 'T-2', language: 'fr', tone: 'warm' });
    expect((await runInput(editor, agentId, { ticket: 'T-3', language: 'fr' })).status).toBe(201);
    const locked = expectProblem(await runInput(editor, agentId, { ticket: 'T-4', language: 'de' }), 400, 'locked-input-field', 'language');
    expect(locked.errors!.map((e) => e.pointer)).toEqual(['/input/language']);
    const schedule = await call(editor, 'POST', '/api/v1/schedules', { name: 's', agentId, cron: '0 0 * * *', input: { ticket: 'nightly', language: 'de' } });
    expect(expectProblem(schedule, 400, 'locked-input-field').errors!.map((e) => e.pointer)).toEqual(['/input/language']);
    const trigger = await call(editor, 'POST', '/api/v1/triggers', { name: 't', agentId, inputMapping: { language: '/lang', ticket: '/id' } });
    expect(expectProblem(trigger, 400, 'locked-input-field').errors!.map((e) => e.pointer)).toEqual(['/inputMapping/language']);

    // The installation manages the content; the editor keeps the name, labels and limits.
    expectProblem(await call(editor, 'PATCH', `/api/v1/agents/${agentId}`, { instructions: 'mine' }), 409, 'conflict', 'updateInstallation');
    expect((await call<Agent>(editor, 'PATCH', `/api/v1/agents/${agentId}`, { name: 'Renamed', labels: ['eu'] })).status).toBe(200);
    expectProblem(await call(editor, 'DELETE', `/api/v1/agents/${agentId}`), 409, 'conflict', 'deleteInstallation');

    // A new version of the source reaches the installed agent at once.
    await call(author, 'PATCH', `/api/v1/agents/${source.id}`, { instructions: 'v2' });
    const followed = (await call<Installation>(editor, 'GET', `/api/v1/installations/${installation.id}`)).body;
    expect(followed).toMatchObject({ sourceVersion: 2, syncError: null });
    expect(followed.packageDigest).not.toBe(installation.packageDigest);
    expect(await agentOf(editor, agentId)).toMatchObject({ instructions: 'v2', version: 2, name: 'Renamed', labels: ['eu'] });

    // An unlocked field and a new default, merged; the editor's model alias.
    const patched = await call<Installation>(editor, 'PATCH', `/api/v1/installations/${installation.id}`, {
      inputDefaults: { tone: null, language: 'es' },
      model: 'claude-sonnet-4',
    });
    expect(patched.body).toMatchObject({ inputDefaults: { language: 'es' }, model: 'claude-sonnet-4' });
    expect((await runInput(editor, agentId, { ticket: 'T-5' })).body.input).toEqual({ ticket: 'T-5', language: 'es', tone: 'neutral' });
    expect((await agentOf(editor, agentId)).model).toBe('claude-sonnet-4');
    // Names are data: an object's inherited members are no values.
    for (const name of ['ticket', 'constructor', 'toString']) {
      expectProblem(await call(editor, 'PATCH', `/api/v1/installations/${installation.id}`, { lockedInputs: [name] }), 422, 'validation-error', 'has no value');
    }
  });

  it('pin a version or follow the stable channel, and record why a newer version could not be installed', async () => {
    const source = await newAgent(author, { instructions: 'one' });
    await call(author, 'PATCH', `/api/v1/agents/${source.id}`, { instructions: 'two' });
    expectProblem(
      await call(editor, 'POST', '/api/v1/installations', { source: { agentId: source.id, channel: 'stable' } }),
      422,
      'validation-error',
      'stable',
    );
    expectProblem(await call(author, 'PATCH', `/api/v1/agents/${source.id}`, { stableVersion: 3 }), 422, 'validation-error', 'no version 3');
    expect((await call<Agent>(author, 'PATCH', `/api/v1/agents/${source.id}`, { stableVersion: 1 })).body).toMatchObject({ stableVersion: 1, version: 2 });

    const stable = await install(editor, { source: { agentId: source.id, channel: 'stable' } });
    const pinned = await install(editor, { source: { agentId: source.id, version: 2 } });
    const current = await install(editor, { source: { agentId: source.id } });
    expect([stable.sourceVersion, pinned.sourceVersion, current.sourceVersion]).toEqual([1, 2, 2]);
    expect([current.channel, current.pinnedVersion]).toEqual([null, 2]);
    expect((await agentOf(editor, stable.agentId)).instructions).toBe('one');

    // Promoting version 2 moves the stable follower; the pinned ones stay.
    await call(author, 'PATCH', `/api/v1/agents/${source.id}`, { instructions: 'three', stableVersion: 2 });
    expect((await agentOf(editor, stable.agentId)).instructions).toBe('two');
    expect((await agentOf(editor, pinned.agentId)).instructions).toBe('two');
    const repinned = await call<Installation>(editor, 'PATCH', `/api/v1/installations/${pinned.id}`, { version: 3 });
    expect(repinned.body).toMatchObject({ pinnedVersion: 3, sourceVersion: 3, channel: null });
    expect((await agentOf(editor, pinned.agentId)).instructions).toBe('three');

    // A version searching a base the editor's application lacks is not installed: the follower says why.
    const kb = (await call<{ id: string }>(author, 'POST', '/api/v1/knowledge-bases', { name: 'Only here' })).body;
    await call(author, 'PATCH', `/api/v1/agents/${source.id}`, {
      tools: [{ name: 'search_knowledge', kind: 'builtin', knowledgeBaseIds: [kb.id] }],
      stableVersion: 4,
    });
    const stuck = (await call<Installation>(editor, 'GET', `/api/v1/installations/${stable.id}`)).body;
    expect(stuck.sourceVersion).toBe(2);
    expect(stuck.syncError).toContain('Only here');
    expect((await agentOf(editor, stable.agentId)).tools).toEqual([]);
  });

  it('install from another application only with an admin key or as a member, and uninstall once no schedule or trigger starts the agent', async () => {
    const source = await newAgent(author);
    expectProblem(await call(editorWriter, 'POST', '/api/v1/installations', { source: { agentId: source.id } }), 403, 'forbidden');
    expectProblem(await call(editor, 'POST', '/api/v1/installations', { source: { agentId: source.id }, package: {} }), 422, 'validation-error');

    const installation = await install(editor, { source: { agentId: source.id } });
    const schedule = (await call<{ id: string }>(editor, 'POST', '/api/v1/schedules', { name: 's', agentId: installation.agentId, cron: '0 0 * * *' })).body;
    expectProblem(await call(editor, 'DELETE', `/api/v1/installations/${installation.id}`), 409, 'conflict', '1 schedule');
    await call(editor, 'DELETE', `/api/v1/schedules/${schedule.id}`);
    expect((await call(editor, 'DELETE', `/api/v1/installations/${installation.id}`)).status).toBe(204);
    expectProblem(await call(editor, 'GET', `/api/v1/agents/${installation.agentId}`), 404, 'not-found');

    // An installed agent with runs keeps them: it is retired, no longer managed.
    const used = await install(editor, { source: { agentId: source.id } });
    expect((await runInput(editor, used.agentId, {})).status).toBe(201);
    expect((await call(editor, 'DELETE', `/api/v1/installations/${used.id}`)).status).toBe(204);
    expect(await agentOf(editor, used.agentId)).toMatchObject({ status: 'retired', installationId: null });
    expectProblem(await call(editor, 'GET', `/api/v1/installations/${used.id}`), 404, 'not-found');
  });
});
