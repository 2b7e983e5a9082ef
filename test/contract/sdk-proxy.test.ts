import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { Switchboard, SwitchboardError } from '@switchboard/sdk';
import * as generated from '@switchboard/sdk/generated';
import { extractOperations, loadBundledSpec } from '@switchboard/server';
import { contractCheckedFetch, uniqueName } from '../support/client.js';

const operationIds = extractOperations(loadBundledSpec().document).map((o) => o.operationId);

/**
 * The SDK drives the real server through `prism proxy --errors`: a request or response that breaks
 * the spec fails the call. Together the steps use every operation of the spec.
 */
describe('the SDK against the real server, through the contract-checking proxy', () => {
  const covered = new Set<string>();
  const sb = new Switchboard({ baseUrl: inject('proxyUrl'), apiKey: inject('adminKey'), fetch: contractCheckedFetch });
  const step = async <T>(operationId: string, call: () => Promise<T>): Promise<T> => {
    const result = await call();
    covered.add(operationId);
    return result;
  };
  const raw = { client: sb.client, throwOnError: true as const };

  it('serves the system endpoints', async () => {
    expect(await step('getHealth', () => sb.system.health())).toEqual({ status: 'ok' });
    expect(await step('getReadiness', () => sb.system.readiness())).toEqual({ status: 'ok', database: 'ok' });
    expect(await step('getOpenApiJson', () => sb.system.openApi())).toMatchObject({ openapi: '3.1.0' });
    expect((await step('getOpenApiYaml', () => generated.getOpenApiYaml({ ...raw, parseAs: 'text' }))).data).toMatch(/^openapi: 3\.1\.0/m);
    expect((await step('getApiDocs', () => generated.getApiDocs({ ...raw, parseAs: 'text' }))).data).toContain('swagger-ui');
    await step('getApiDocsAsset', () => generated.getApiDocsAsset({ ...raw, path: { asset: 'swagger-ui.css' } }));
    expect((await step('getProblemType', () => generated.getProblemType({ ...raw, parseAs: 'text', path: { code: 'validation-error' } }))).data).toContain('422');
  });

  it('manages the organization, applications and API keys', async () => {
    const org = await step('getOrganization', () => sb.organization.get());
    expect(org.id).toMatch(/^org_/);

    const app = await step('createApplication', () => sb.applications.create({ name: uniqueName('Contract app') }, { idempotencyKey: randomUUID() }));
    await step('getApplication', () => sb.applications.get(app.id));
    const renamed = await step('updateApplication', () => sb.applications.update(app.id, { name: 'Renamed', description: 'Second' }));
    expect(renamed.name).toBe('Renamed');
    const apps = await step('listApplications', () => sb.applications.list({ q: 'Renamed', sort: '-createdAt' }));
    expect(apps.data.map((a) => a.id)).toContain(app.id);

    const key = await step('createApiKey', () => sb.apiKeys.create({ name: 'contract', scopes: ['read'] }, { idempotencyKey: randomUUID() }));
    expect(key.secret).toMatch(/^sbk_/);
    await step('getApiKey', () => sb.apiKeys.get(key.id));
    await step('updateApiKey', () => sb.apiKeys.update(key.id, { scopes: ['read', 'write'] }));
    const rotated = await step('rotateApiKey', () => sb.apiKeys.rotate(key.id, { gracePeriodSeconds: 60 }));
    expect(rotated.secret).not.toBe(key.secret);
    const revoked = await step('revokeApiKey', () => sb.apiKeys.revoke(key.id));
    expect(revoked.status).toBe('revoked');
    const keys = await step('listApiKeys', () => sb.apiKeys.list({ status: 'revoked', pageSize: 100 }));
    expect(keys.data.map((k) => k.id)).toContain(key.id);

    await step('deleteApplication', () => sb.applications.delete(app.id));
    await expect(sb.applications.get(app.id)).rejects.toBeInstanceOf(SwitchboardError);
  });

  it('manages agents and their versions', async () => {
    const name = uniqueName('Contract agent');
    const agent = await step('createAgent', () =>
      sb.agents.create({ name, model: 'gpt-4.1', labels: ['contract'], tools: [{ name: 'search', description: 'Search', inputSchema: { type: 'object' } }] }),
    );
    await step('getAgent', () => sb.agents.get(agent.id));
    const updated = await step('updateAgent', () => sb.agents.update(agent.id, { instructions: 'Be brief.', config: { temperature: 0.2 } }));
    expect(updated.version).toBe(2);
    expect((await step('listAgentVersions', () => sb.agents.versions.list(agent.id))).data.map((v) => v.version)).toEqual([2, 1]);
    expect((await step('getAgentVersion', () => sb.agents.versions.get(agent.id, 1))).instructions).toBe('');
    expect((await step('pauseAgent', () => sb.agents.pause(agent.id))).status).toBe('paused');
    expect((await step('resumeAgent', () => sb.agents.resume(agent.id))).status).toBe('active');
    expect((await step('retireAgent', () => sb.agents.retire(agent.id))).status).toBe('retired');
    const listed = await step('listAgents', () => sb.agents.list({ q: name, status: 'retired', label: 'contract' }));
    expect(listed.data.map((a) => a.id)).toEqual([agent.id]);
    await step('deleteAgent', () => sb.agents.delete(agent.id));
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
});
