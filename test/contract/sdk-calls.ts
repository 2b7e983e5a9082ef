import { Switchboard } from '@switchboard/sdk';
import * as generated from '@switchboard/sdk/generated';

export const SAMPLE = {
  agentId: 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab',
  applicationId: 'app_01jd4x7p2kf8q6v3b9m5t0s1ab',
  apiKeyId: 'key_01jd4x7p2kf8q6v3b9m5t0s1ab',
};

/**
 * One SDK call per operationId of the spec. The contract tests assert this table covers every
 * operation, so a new operation without an SDK method fails them.
 */
export function sdkCalls(sb: Switchboard): Record<string, () => Promise<unknown>> {
  const { agentId, applicationId, apiKeyId } = SAMPLE;
  const raw = { client: sb.client, throwOnError: true as const };
  return {
    getHealth: () => sb.system.health(),
    getReadiness: () => sb.system.readiness(),
    getOpenApiJson: () => sb.system.openApi(),
    getOpenApiYaml: () => generated.getOpenApiYaml(raw),
    getApiDocs: () => generated.getApiDocs(raw),
    getApiDocsAsset: () => generated.getApiDocsAsset({ ...raw, path: { asset: 'swagger-ui.css' } }),
    getProblemType: () => generated.getProblemType({ ...raw, path: { code: 'not-found' } }),
    getOrganization: () => sb.organization.get(),
    listApplications: () => sb.applications.list({ page: 1, pageSize: 10, sort: 'name' }),
    createApplication: () => sb.applications.create({ name: 'Mobile app' }, { idempotencyKey: 'contract-create-app' }),
    getApplication: () => sb.applications.get(applicationId),
    updateApplication: () => sb.applications.update(applicationId, { description: null }),
    deleteApplication: () => sb.applications.delete(applicationId),
    listApiKeys: () => sb.apiKeys.list({ status: 'active' }),
    createApiKey: () => sb.apiKeys.create({ name: 'CI', scopes: ['read'] }),
    getApiKey: () => sb.apiKeys.get(apiKeyId),
    updateApiKey: () => sb.apiKeys.update(apiKeyId, { scopes: ['read', 'write'] }),
    revokeApiKey: () => sb.apiKeys.revoke(apiKeyId),
    rotateApiKey: () => sb.apiKeys.rotate(apiKeyId, { gracePeriodSeconds: 3600 }),
    listAgents: () => sb.agents.list({ status: 'active', label: 'eu', q: 'support' }),
    createAgent: () => sb.agents.create({ name: 'Support bot', model: 'gpt-4.1', labels: ['eu'] }),
    getAgent: () => sb.agents.get(agentId),
    updateAgent: () => sb.agents.update(agentId, { instructions: 'Be brief.' }),
    deleteAgent: () => sb.agents.delete(agentId),
    pauseAgent: () => sb.agents.pause(agentId),
    resumeAgent: () => sb.agents.resume(agentId),
    retireAgent: () => sb.agents.retire(agentId),
    listAgentVersions: () => sb.agents.versions.list(agentId),
    getAgentVersion: () => sb.agents.versions.get(agentId, 1),
  };
}
