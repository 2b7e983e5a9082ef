import { createClient, createConfig, type Client } from './generated/client/index.js';
import * as api from './generated/sdk.gen.js';
import type * as T from './generated/types.gen.js';
import { SwitchboardError } from './errors.js';

export type SwitchboardOptions = {
  /** Defaults to SWITCHBOARD_BASE_URL, then http://127.0.0.1:3000. */
  baseUrl?: string;
  /** An application key (`sbk_...`); defaults to SWITCHBOARD_API_KEY. */
  apiKey?: string;
  /** The application to act in (admin keys may choose another application of their organization). */
  appId?: string;
  fetch?: typeof fetch;
};

export type WriteOptions = { idempotencyKey?: string };
export type RunCreateOptions = WriteOptions & { endUser?: string };
export type StreamOptions = { after?: number; signal?: AbortSignal };

/** Bounded reconnection: the generated SSE client would otherwise retry a 401 or 404 forever. */
const SSE_RETRIES = { sseMaxRetryAttempts: 3 };
export type ConditionalOptions = { ifMatch?: string };

type Result<D> = { data?: D; error?: unknown; response?: Response };

/** Environment variables where there are any (Node, Deno, Bun); browsers have none. */
const env = (name: string): string | undefined =>
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];

/** Resolves to the body of a success, or throws a SwitchboardError carrying the problem. */
async function unwrap<D>(call: Promise<Result<D>>): Promise<D> {
  const { data, error, response } = await call;
  if (!response) throw error instanceof Error ? error : new Error(String(error));
  if (!response.ok) throw new SwitchboardError(response, error as T.Problem | undefined);
  return data as D;
}

const idempotency = (o?: WriteOptions) => (o?.idempotencyKey ? { 'Idempotency-Key': o.idempotencyKey } : undefined);
const ifMatch = (o?: ConditionalOptions) => (o?.ifMatch ? { 'If-Match': o.ifMatch } : undefined);

/** The Switchboard API, grouped by resource, on the client generated from the spec. */
export class Switchboard {
  readonly client: Client;

  constructor(options: SwitchboardOptions = {}) {
    const apiKey = options.apiKey ?? env('SWITCHBOARD_API_KEY');
    const headers: Record<string, string> = {};
    if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
    if (options.appId) headers['X-App-Id'] = options.appId;
    this.client = createClient(
      createConfig({
        baseUrl: options.baseUrl ?? env('SWITCHBOARD_BASE_URL') ?? 'http://127.0.0.1:3000',
        headers,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      }),
    );
  }

  readonly system = {
    health: () => unwrap(api.getHealth({ client: this.client })),
    readiness: () => unwrap(api.getReadiness({ client: this.client })),
    openApi: () => unwrap(api.getOpenApiJson({ client: this.client })),
  };

  readonly organization = {
    get: () => unwrap(api.getOrganization({ client: this.client })),
  };

  readonly applications = {
    list: (query?: T.ListApplicationsData['query']) => unwrap(api.listApplications({ client: this.client, query })),
    create: (body: T.ApplicationCreate, o?: WriteOptions) => unwrap(api.createApplication({ client: this.client, body, headers: idempotency(o) })),
    get: (applicationId: string) => unwrap(api.getApplication({ client: this.client, path: { applicationId } })),
    update: (applicationId: string, body: T.ApplicationUpdate, o?: ConditionalOptions) =>
      unwrap(api.updateApplication({ client: this.client, path: { applicationId }, body, headers: ifMatch(o) })),
    delete: (applicationId: string, o?: ConditionalOptions) =>
      unwrap(api.deleteApplication({ client: this.client, path: { applicationId }, headers: ifMatch(o) })),
  };

  readonly apiKeys = {
    list: (query?: T.ListApiKeysData['query']) => unwrap(api.listApiKeys({ client: this.client, query })),
    create: (body: T.ApiKeyCreate, o?: WriteOptions) => unwrap(api.createApiKey({ client: this.client, body, headers: idempotency(o) })),
    get: (apiKeyId: string) => unwrap(api.getApiKey({ client: this.client, path: { apiKeyId } })),
    update: (apiKeyId: string, body: T.ApiKeyUpdate, o?: ConditionalOptions) =>
      unwrap(api.updateApiKey({ client: this.client, path: { apiKeyId }, body, headers: ifMatch(o) })),
    revoke: (apiKeyId: string) => unwrap(api.revokeApiKey({ client: this.client, path: { apiKeyId } })),
    rotate: (apiKeyId: string, body?: T.ApiKeyRotate, o?: WriteOptions) =>
      unwrap(api.rotateApiKey({ client: this.client, path: { apiKeyId }, body, headers: idempotency(o) })),
  };

  readonly agents = {
    list: (query?: T.ListAgentsData['query']) => unwrap(api.listAgents({ client: this.client, query })),
    create: (body: T.AgentCreate, o?: WriteOptions) => unwrap(api.createAgent({ client: this.client, body, headers: idempotency(o) })),
    get: (agentId: string) => unwrap(api.getAgent({ client: this.client, path: { agentId } })),
    update: (agentId: string, body: T.AgentUpdate, o?: ConditionalOptions) =>
      unwrap(api.updateAgent({ client: this.client, path: { agentId }, body, headers: ifMatch(o) })),
    delete: (agentId: string, o?: ConditionalOptions) => unwrap(api.deleteAgent({ client: this.client, path: { agentId }, headers: ifMatch(o) })),
    pause: (agentId: string) => unwrap(api.pauseAgent({ client: this.client, path: { agentId } })),
    resume: (agentId: string) => unwrap(api.resumeAgent({ client: this.client, path: { agentId } })),
    retire: (agentId: string) => unwrap(api.retireAgent({ client: this.client, path: { agentId } })),
    versions: {
      list: (agentId: string, query?: T.ListAgentVersionsData['query']) =>
        unwrap(api.listAgentVersions({ client: this.client, path: { agentId }, query })),
      get: (agentId: string, version: number) => unwrap(api.getAgentVersion({ client: this.client, path: { agentId, version } })),
    },
  };

  readonly runs = {
    create: (body: T.RunCreate, o?: RunCreateOptions) =>
      unwrap(
        api.createRun({
          client: this.client,
          body,
          headers: { ...idempotency(o), ...(o?.endUser ? { 'Switchboard-User': o.endUser } : {}) },
        }),
      ),
    list: (query?: T.ListRunsData['query']) => unwrap(api.listRuns({ client: this.client, query })),
    get: (runId: string) => unwrap(api.getRun({ client: this.client, path: { runId } })),
    cancel: (runId: string) => unwrap(api.cancelRun({ client: this.client, path: { runId } })),
    resume: (runId: string, body?: T.RunResume) => unwrap(api.resumeRun({ client: this.client, path: { runId }, body })),
    events: (runId: string, query?: T.ListRunEventsData['query']) => unwrap(api.listRunEvents({ client: this.client, path: { runId }, query })),
    /** The run's events, history then live, until its terminal status; reconnects from the last event id. */
    stream: (runId: string, o: StreamOptions = {}) => this.events$(api.streamRun({ client: this.client, path: { runId }, query: { after: o.after }, signal: o.signal, ...SSE_RETRIES })),
    /** Every run's events in the application, or one agent's. */
    streamAll: (o: StreamOptions & { agentId?: string } = {}) =>
      this.events$(
        o.agentId
          ? api.streamAgentRuns({ client: this.client, path: { agentId: o.agentId }, query: { after: o.after }, signal: o.signal, ...SSE_RETRIES })
          : api.streamRuns({ client: this.client, query: { after: o.after }, signal: o.signal, ...SSE_RETRIES }),
      ),
  };

  /** Runners: registration with an application key; the rest with the runner's own token (`apiKey: 'sbr_...'`). */
  readonly runners = {
    register: (body: T.RunnerCreate, o?: WriteOptions) => unwrap(api.registerRunner({ client: this.client, body, headers: idempotency(o) })),
    list: (query?: T.ListRunnersData['query']) => unwrap(api.listRunners({ client: this.client, query })),
    get: (runnerId: string) => unwrap(api.getRunner({ client: this.client, path: { runnerId } })),
    delete: (runnerId: string, o?: ConditionalOptions) => unwrap(api.deleteRunner({ client: this.client, path: { runnerId }, headers: ifMatch(o) })),
    /** The next run for this runner, waiting up to `wait` seconds; undefined when there is none. */
    claim: async (runnerId: string, query?: T.ClaimRunData['query'], signal?: AbortSignal) => {
      const claim = await unwrap(api.claimRun({ client: this.client, path: { runnerId }, query, signal }));
      return claim && typeof claim === 'object' && 'lease' in claim ? claim : undefined;
    },
    heartbeat: (leaseId: string, body: T.HeartbeatRequest) => unwrap(api.heartbeatLease({ client: this.client, path: { leaseId }, body })),
    appendEvents: (leaseId: string, body: T.RunEventsAppend) => unwrap(api.appendRunEvents({ client: this.client, path: { leaseId }, body })),
    complete: (leaseId: string, body: T.RunComplete) => unwrap(api.completeRun({ client: this.client, path: { leaseId }, body })),
    wait: (leaseId: string, body: T.RunWait) => unwrap(api.waitRun({ client: this.client, path: { leaseId }, body })),
  };

  private async *events$(opened: Promise<{ stream: AsyncGenerator<unknown> }>): AsyncGenerator<T.RunEvent> {
    const { stream } = await opened;
    for await (const event of stream) yield event as T.RunEvent;
  }
}
