import { Switchboard } from '@switchboard/sdk';
import * as generated from '@switchboard/sdk/generated';

export const SAMPLE = {
  agentId: 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab',
  applicationId: 'app_01jd4x7p2kf8q6v3b9m5t0s1ab',
  apiKeyId: 'key_01jd4x7p2kf8q6v3b9m5t0s1ab',
  runId: 'run_01jd4x7p2kf8q6v3b9m5t0s1ab',
  runnerId: 'runner_01jd4x7p2kf8q6v3b9m5t0s1ab',
  leaseId: 'lease_01jd4x7p2kf8q6v3b9m5t0s1ab',
  scheduleId: 'sched_01jd4x7p2kf8q6v3b9m5t0s1ab',
  triggerId: 'trg_01jd4x7p2kf8q6v3b9m5t0s1ab',
  webhookEndpointId: 'whep_01jd4x7p2kf8q6v3b9m5t0s1ab',
  webhookMessageId: 'whmsg_01jd4x7p2kf8q6v3b9m5t0s1ab',
  modelProviderId: 'prov_01jd4x7p2kf8q6v3b9m5t0s1ab',
  modelId: 'model_01jd4x7p2kf8q6v3b9m5t0s1ab',
  uploadId: 'upl_01jd4x7p2kf8q6v3b9m5t0s1ab',
  transcriptionId: 'trn_01jd4x7p2kf8q6v3b9m5t0s1ab',
  userId: 'user_01jd4x7p2kf8q6v3b9m5t0s1ab',
  sessionId: 'sess_01jd4x7p2kf8q6v3b9m5t0s1ab',
  invitationId: 'inv_01jd4x7p2kf8q6v3b9m5t0s1ab',
  personalTokenId: 'pat_01jd4x7p2kf8q6v3b9m5t0s1ab',
  endUserId: 'eu_01jd4x7p2kf8q6v3b9m5t0s1ab',
  auditEventId: 'aud_01jd4x7p2kf8q6v3b9m5t0s1ab',
  auditExportId: 'audexp_01jd4x7p2kf8q6v3b9m5t0s1ab',
};

/** A few bytes of audio, as a File the way a Node or browser client sends one. */
export const audioFile = () => new File([new Uint8Array([82, 73, 70, 70])], 'standup.wav', { type: 'audio/wav' });

/** The first event of a stream, then stops reading (the mock repeats its example forever). */
const first = async <T>(events: AsyncGenerator<T>): Promise<T> => {
  const { value, done } = await events.next();
  await events.return(undefined);
  if (done) throw new Error('the stream yielded no event');
  return value;
};

/** Reads a stream to its end; one that yields nothing (failed, then gave up) is an error. */
export const drain = async <T>(events: AsyncIterable<T>): Promise<T[]> => {
  const seen: T[] = [];
  for await (const e of events) seen.push(e);
  if (!seen.length) throw new Error('the stream yielded no event');
  return seen;
};

/**
 * One SDK call per operationId of the spec. The contract tests assert this table covers every
 * operation, so a new operation without an SDK method fails them. `person` is a signed-in person's
 * client (a session), for the operations only a session may call.
 */
export function sdkCalls(sb: Switchboard, runner: Switchboard, person: Switchboard): Record<string, () => Promise<unknown>> {
  const {
    agentId,
    applicationId,
    apiKeyId,
    runId,
    runnerId,
    leaseId,
    scheduleId,
    triggerId,
    webhookEndpointId,
    webhookMessageId,
    modelProviderId,
    modelId,
    uploadId,
    transcriptionId,
    userId,
    sessionId,
    invitationId,
    personalTokenId,
    endUserId,
    auditEventId,
    auditExportId,
  } = SAMPLE;
  const raw = { client: sb.client, throwOnError: true as const };
  return {
    getRoot: () => generated.getRoot({ ...raw, parseAs: 'text' }),
    getHealth: () => sb.system.health(),
    getReadiness: () => sb.system.readiness(),
    getOpenApiJson: () => sb.system.openApi(),
    getOpenApiYaml: () => generated.getOpenApiYaml(raw),
    getApiDocs: () => generated.getApiDocs(raw),
    getApiDocsAsset: () => generated.getApiDocsAsset({ ...raw, path: { asset: 'swagger-ui.css' } }),
    getProblemType: () => generated.getProblemType({ ...raw, path: { code: 'not-found' } }),
    getOrganization: () => sb.organization.get(),
    listAuditEvents: () => sb.auditEvents.list({ action: 'agent.', limit: 10 }),
    getAuditEvent: () => sb.auditEvents.get(auditEventId),
    verifyAuditEvents: () => sb.auditEvents.verify({ from: 1 }),
    listActivity: () => sb.activity.list({ resourceType: 'agent' }),
    createAuditExport: () => sb.auditEvents.exports.create({ format: 'csv', filters: { action: 'agent.' } }, { idempotencyKey: 'audit-export-1' }),
    getAuditExport: () => sb.auditEvents.exports.get(auditExportId),
    getAuditExportContent: () => sb.auditEvents.exports.content(auditExportId),
    signUp: () => sb.auth.signUp({ email: 'grace@example.com', password: 'correct horse battery staple', name: 'Grace Hopper' }),
    logIn: () => sb.auth.logIn({ email: 'ada@example.com', password: 'correct horse battery staple' }),
    logOut: () => person.auth.logOut(),
    getMe: () => person.me.get(),
    listSessions: () => person.me.sessions.list({ pageSize: 10 }),
    revokeSession: () => person.me.sessions.revoke(sessionId),
    listPersonalTokens: () => person.personalTokens.list({ status: 'active', sort: 'name' }),
    createPersonalToken: () => person.personalTokens.create({ name: 'Laptop CLI', scopes: ['write'], expiresAt: '2027-02-20T00:00:00.000Z' }),
    getPersonalToken: () => person.personalTokens.get(personalTokenId),
    revokePersonalToken: () => person.personalTokens.revoke(personalTokenId),
    listMembers: () => sb.members.list({ role: 'admin', sort: 'email' }),
    getMember: () => sb.members.get(userId),
    updateMember: () => sb.members.update(userId, { role: 'admin' }),
    removeMember: () => sb.members.remove(userId),
    listInvitations: () => sb.invitations.list({ status: 'pending' }),
    createInvitation: () => sb.invitations.create({ email: 'grace@example.com', role: 'member' }),
    getInvitation: () => sb.invitations.get(invitationId),
    revokeInvitation: () => sb.invitations.revoke(invitationId),
    acceptInvitation: () => person.invitations.accept({ token: `sbi_${'a'.repeat(43)}` }),
    listEndUsers: () => sb.endUsers.list({ q: 'jane', sort: 'externalId' }),
    createEndUser: () => sb.endUsers.create({ externalId: 'customer-4821', name: 'Jane Customer', metadata: { plan: 'pro' } }),
    getEndUser: () => sb.endUsers.get(endUserId),
    updateEndUser: () => sb.endUsers.update(endUserId, { name: null, metadata: { plan: null } }),
    deleteEndUser: () => sb.endUsers.delete(endUserId),
    upsertEndUser: () => sb.endUsers.upsert('customer-4821', { email: 'jane@example.org' }),
    createEndUserToken: () => sb.endUsers.tokens.create(endUserId, { ttlSeconds: 300 }),
    listApplications: () => sb.applications.list({ page: 1, pageSize: 10, sort: 'name' }),
    createApplication: () => sb.applications.create({ name: 'Mobile app' }, { idempotencyKey: 'contract-create-app' }),
    getApplication: () => sb.applications.get(applicationId),
    updateApplication: () => sb.applications.update(applicationId, { description: null }),
    deleteApplication: () => sb.applications.delete(applicationId),
    listApiKeys: () => sb.apiKeys.list({ status: 'active' }),
    createApiKey: () => sb.apiKeys.create({ name: 'CI', scopes: ['read'], allowedModels: ['support-default'] }),
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
    createRun: () => sb.runs.create({ agentId, input: { question: 'hi' } }, { endUser: 'customer-42' }),
    listRuns: () => sb.runs.list({ status: 'queued', agentId }),
    getRun: () => sb.runs.get(runId),
    cancelRun: () => sb.runs.cancel(runId),
    resumeRun: () => sb.runs.resume(runId, { input: { approved: true } }),
    listRunEvents: () => sb.runs.events(runId, { after: 0, limit: 10 }),
    streamRun: () => first(sb.runs.stream(runId)),
    streamAgentRuns: () => first(sb.runs.streamAll({ agentId })),
    streamRuns: () => first(sb.runs.streamAll()),
    registerRunner: () => sb.runners.register({ name: 'worker', labels: ['eu'] }),
    listRunners: () => sb.runners.list({ label: 'eu' }),
    getRunner: () => sb.runners.get(runnerId),
    deleteRunner: () => sb.runners.delete(runnerId),
    claimRun: () => runner.runners.claim(runnerId, { wait: 0 }),
    heartbeatLease: () => runner.runners.heartbeat(leaseId, { fencingToken: 1 }),
    appendRunEvents: () => runner.runners.appendEvents(leaseId, { fencingToken: 1, events: [{ runnerSeq: 1, type: 'log', data: { message: 'hi' } }] }),
    completeRun: () => runner.runners.complete(leaseId, { fencingToken: 1, status: 'succeeded', output: { answer: 42 } }),
    listSchedules: () => sb.schedules.list({ status: 'active', agentId, sort: 'nextRunAt' }),
    createSchedule: () => sb.schedules.create({ name: 'Nightly report', agentId, cron: '0 2 * * *', timezone: 'Europe/Paris' }),
    getSchedule: () => sb.schedules.get(scheduleId),
    updateSchedule: () => sb.schedules.update(scheduleId, { cron: '30 2 * * *' }),
    deleteSchedule: () => sb.schedules.delete(scheduleId),
    pauseSchedule: () => sb.schedules.pause(scheduleId),
    resumeSchedule: () => sb.schedules.resume(scheduleId),
    listScheduleRuns: () => sb.schedules.runs(scheduleId, { status: 'succeeded' }),
    listTriggers: () => sb.triggers.list({ status: 'active', agentId }),
    createTrigger: () => sb.triggers.create({ name: 'Orders', agentId, authentication: 'signature', inputMapping: { order: '/order/id' } }),
    getTrigger: () => sb.triggers.get(triggerId),
    updateTrigger: () => sb.triggers.update(triggerId, { name: 'Renamed' }),
    deleteTrigger: () => sb.triggers.delete(triggerId),
    pauseTrigger: () => sb.triggers.pause(triggerId),
    resumeTrigger: () => sb.triggers.resume(triggerId),
    rotateTriggerSecret: () => sb.triggers.rotateSecret(triggerId),
    invokeTrigger: () => sb.triggers.invoke(triggerId, { order: { id: 42 } }, { secret: `whsec_${'MTIz'.repeat(11)}` }),
    listWebhookEndpoints: () => sb.webhookEndpoints.list({ enabled: true }),
    createWebhookEndpoint: () =>
      sb.webhookEndpoints.create({ url: 'https://hooks.example.com/switchboard', eventTypes: ['run.*', 'agent.created'], description: 'Ops' }),
    getWebhookEndpoint: () => sb.webhookEndpoints.get(webhookEndpointId),
    updateWebhookEndpoint: () => sb.webhookEndpoints.update(webhookEndpointId, { enabled: false }),
    deleteWebhookEndpoint: () => sb.webhookEndpoints.delete(webhookEndpointId),
    rotateWebhookEndpointSecret: () => sb.webhookEndpoints.rotateSecret(webhookEndpointId, { gracePeriodSeconds: 3600 }),
    testWebhookEndpoint: () => sb.webhookEndpoints.test(webhookEndpointId),
    listWebhookMessages: () => sb.webhookEndpoints.messages(webhookEndpointId, { status: 'failed', eventType: 'run.failed' }),
    getWebhookMessage: () => sb.webhookMessages.get(webhookMessageId),
    listWebhookAttempts: () => sb.webhookMessages.attempts(webhookMessageId),
    redeliverWebhookMessage: () => sb.webhookMessages.redeliver(webhookMessageId),
    listModelProviders: () => sb.modelProviders.list({ kind: 'openai', sort: 'name' }),
    createModelProvider: () => sb.modelProviders.create({ name: 'OpenAI', kind: 'openai', credential: 'sk-proj-contract-0123456789' }),
    getModelProvider: () => sb.modelProviders.get(modelProviderId),
    updateModelProvider: () => sb.modelProviders.update(modelProviderId, { credential: null, headers: { 'OpenAI-Organization': 'org-42' } }),
    deleteModelProvider: () => sb.modelProviders.delete(modelProviderId),
    listModels: () => sb.models.list({ api: 'chat', providerId: modelProviderId, sort: 'alias' }),
    createModel: () =>
      sb.models.create({
        alias: 'support-default',
        providerId: modelProviderId,
        upstreamModel: 'gpt-4.1-mini',
        pricing: { inputMicrosPerMillionTokens: 400000 },
      }),
    getModel: () => sb.models.get(modelId),
    updateModel: () => sb.models.update(modelId, { pricing: { outputMicrosPerMillionTokens: 1600000 } }),
    deleteModel: () => sb.models.delete(modelId),
    createUpload: () => sb.uploads.create({ file: audioFile() }, { idempotencyKey: 'contract-upload' }),
    getUpload: () => sb.uploads.get(uploadId),
    deleteUpload: () => sb.uploads.delete(uploadId),
    listTranscriptions: () => sb.transcriptions.list({ status: 'succeeded', model: 'meeting-notes' }),
    createTranscription: () => sb.transcriptions.create({ uploadId, model: 'meeting-notes', timestamps: 'word', retainAudio: true }),
    getTranscription: () => sb.transcriptions.get(transcriptionId),
    getTranscriptionContent: () => sb.transcriptions.content(transcriptionId, { format: 'srt' }),
    cancelTranscription: () => sb.transcriptions.cancel(transcriptionId),
    deleteTranscription: () => sb.transcriptions.delete(transcriptionId),
    createAudioTranscription: () =>
      generated.createAudioTranscription({ ...raw, body: { file: audioFile(), model: 'meeting-notes', response_format: 'json' } }),
    createChatCompletion: () =>
      generated.createChatCompletion({ ...raw, body: { model: 'support-default', messages: [{ role: 'user', content: 'Say hello.' }] } }),
    createEmbeddings: () => generated.createEmbeddings({ ...raw, body: { model: 'text-embedding-3-small', input: 'Hello' } }),
    listGatewayModels: () => generated.listGatewayModels(raw),
    createAnthropicMessage: () =>
      generated.createAnthropicMessage({ ...raw, body: { model: 'claude-sonnet', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello.' }] } }),
    countAnthropicTokens: () =>
      generated.countAnthropicTokens({ ...raw, body: { model: 'claude-sonnet', messages: [{ role: 'user', content: 'Say hello.' }] } }),
    waitRun: () => runner.runners.wait(leaseId, { fencingToken: 1, requiredAction: { type: 'approval', message: 'Approve?', data: {} } }),
  };
}
