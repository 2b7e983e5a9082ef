import { createClient, createConfig, type Client } from './generated/client/index.js';
import * as api from './generated/sdk.gen.js';
import type * as T from './generated/types.gen.js';
import { Webhook } from 'standardwebhooks';
import { APIPromise, type DataAndResponse } from './api-promise.js';
import { responseError } from './errors.js';
import type { RunEventPage } from './events.js';
import { PageList, type Page } from './pagination.js';
import { isTerminalStatus, runEventStream } from './stream.js';
import { callFetch, type CallOptions, type TransportOptions } from './transport.js';
import { userAgent } from './user-agent.js';

export type SwitchboardOptions = {
  /** An application key (`sbk_...`), or a runner's token (`sbr_...`); defaults to SWITCHBOARD_API_KEY. */
  apiKey?: string;
  /** Defaults to SWITCHBOARD_BASE_URL, then http://127.0.0.1:3000. */
  baseUrl?: string;
  /** The application to act in (admin keys may choose another application of their organization). */
  appId?: string;
  /** Act on behalf of this end-user of your application (sent as Switchboard-User). */
  endUser?: string;
  /** Pin an API version (YYYY-MM-DD, sent as Switchboard-Version). */
  version?: string;
  /** Retries after a failed attempt: network errors, 408, 409 idempotency-in-flight, 429, 5xx. Default 2. */
  maxRetries?: number;
  /** Milliseconds per attempt. Default 60 000. */
  timeout?: number;
  fetch?: typeof fetch;
};

/** Per call: cancel with `signal`, override `timeout` and `maxRetries`. */
export type RequestOptions = CallOptions;
/** Writes that create something also take an Idempotency-Key; one is generated (and reused by retries) when you give none. */
export type WriteOptions = RequestOptions & { idempotencyKey?: string };
export type ConditionalOptions = RequestOptions & { ifMatch?: string };
export type RunCreateOptions = WriteOptions & { endUser?: string };
export type StreamOptions = { after?: number; signal?: AbortSignal };

/** What every result also carries, without being part of its data. */
export type ResponseInfo = { requestId: string | undefined; status: number; headers: Headers };
export type WithResponse<D> = D & { readonly lastResponse: ResponseInfo };

type Result<D> = { data?: D; error?: unknown; response?: Response };

/** Environment variables where there are any (Node, Deno, Bun); browsers have none. */
const env = (name: string): string | undefined =>
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];

const newIdempotencyKey = () => globalThis.crypto.randomUUID();

/** The Switchboard API, grouped by resource, on the client generated from the spec. */
export class Switchboard {
  readonly client: Client;
  readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly transport: TransportOptions;

  constructor(options: SwitchboardOptions = {}) {
    const apiKey = options.apiKey ?? env('SWITCHBOARD_API_KEY');
    this.baseUrl = (options.baseUrl ?? env('SWITCHBOARD_BASE_URL') ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
    this.headers = {
      ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}),
      ...(options.appId ? { 'X-App-Id': options.appId } : {}),
      ...(options.endUser ? { 'Switchboard-User': options.endUser } : {}),
      ...(options.version ? { 'Switchboard-Version': options.version } : {}),
      ...(userAgent ? { 'User-Agent': userAgent } : {}),
    };
    this.transport = {
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      maxRetries: options.maxRetries ?? 2,
      timeout: options.timeout ?? 60_000,
    };
    this.client = createClient(createConfig({ baseUrl: this.baseUrl, headers: this.headers, fetch: this.transport.fetch }));
  }

  /** Runs one generated operation with this client's transport: its data and response, or a typed error. */
  private async request<D>(
    operation: (o: { client: Client; fetch: typeof fetch }) => Promise<Result<D>>,
    options: RequestOptions = {},
  ): Promise<DataAndResponse<WithResponse<D>>> {
    const fetch = callFetch(this.transport, options);
    // Settled as soon as the body is parsed: an armed timer would hold the attempt's controller for the whole timeout.
    const { data, error, response } = await operation({ client: this.client, fetch }).finally(fetch.settle);
    if (!response) throw error instanceof Error ? error : new Error(String(error));
    if (!response.ok) throw responseError(response, error);
    const info: ResponseInfo = { requestId: response.headers.get('request-id') ?? undefined, status: response.status, headers: response.headers };
    const result = (data ?? {}) as WithResponse<D>;
    if (typeof result === 'object') Object.defineProperty(result, 'lastResponse', { value: info, enumerable: false });
    return { data: result, response };
  }

  private call<D>(operation: (o: { client: Client; fetch: typeof fetch }) => Promise<Result<D>>, options?: RequestOptions): APIPromise<WithResponse<D>> {
    return new APIPromise(this.request(operation, options));
  }

  private list<Item, P extends Page<Item>>(
    fetchPage: (page: number, o: { client: Client; fetch: typeof fetch }) => Promise<Result<P>>,
    query: { page?: number } | undefined,
    options?: RequestOptions,
  ): PageList<Item, WithResponse<P>> {
    return new PageList((page) => this.request((o) => fetchPage(page, o), options), query?.page ?? 1);
  }

  private idempotent(options?: WriteOptions) {
    return { 'Idempotency-Key': options?.idempotencyKey ?? newIdempotencyKey() };
  }

  /**
   * Any request to a path under the base URL, with this client's headers, timeout and retries
   * (the timeout covers the wait for the response headers). Resolves to the `Response` whatever
   * its status; for the endpoints the SDK does not wrap, or to read a body yourself.
   */
  rawRequest(path: string, init: RequestInit = {}, options: RequestOptions = {}): Promise<Response> {
    const headers = new Headers(this.headers);
    new Headers(init.headers).forEach((value, name) => headers.set(name, value));
    return callFetch(this.transport, options, true)(`${this.baseUrl}${path.startsWith('/') ? '' : '/'}${path}`, { ...init, headers });
  }

  private async openStream(path: string, lastEventId: string | undefined, signal: AbortSignal): Promise<Response> {
    const headers = { ...this.headers, Accept: 'text/event-stream', ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}) };
    return callFetch(this.transport, { signal }, true)(`${this.baseUrl}${path}`, { headers });
  }

  readonly system = {
    health: (o?: RequestOptions) => this.call((c) => api.getHealth(c), o),
    readiness: (o?: RequestOptions) => this.call((c) => api.getReadiness(c), o),
    openApi: (o?: RequestOptions) => this.call((c) => api.getOpenApiJson(c), o),
  };

  readonly organization = {
    get: (o?: RequestOptions) => this.call((c) => api.getOrganization(c), o),
  };

  readonly applications = {
    list: (query?: T.ListApplicationsData['query'], o?: RequestOptions) =>
      this.list<T.Application, T.ApplicationList>((page, c) => api.listApplications({ ...c, query: { ...query, page } }), query, o),
    create: (body: T.ApplicationCreate, o?: WriteOptions) => this.call((c) => api.createApplication({ ...c, body, headers: this.idempotent(o) }), o),
    get: (applicationId: string, o?: RequestOptions) => this.call((c) => api.getApplication({ ...c, path: { applicationId } }), o),
    update: (applicationId: string, body: T.ApplicationUpdate, o?: ConditionalOptions) =>
      this.call((c) => api.updateApplication({ ...c, path: { applicationId }, body, headers: ifMatch(o) }), o),
    delete: (applicationId: string, o?: ConditionalOptions) => this.call((c) => api.deleteApplication({ ...c, path: { applicationId }, headers: ifMatch(o) }), o),
  };

  readonly apiKeys = {
    list: (query?: T.ListApiKeysData['query'], o?: RequestOptions) =>
      this.list<T.ApiKey, T.ApiKeyList>((page, c) => api.listApiKeys({ ...c, query: { ...query, page } }), query, o),
    create: (body: T.ApiKeyCreate, o?: WriteOptions) => this.call((c) => api.createApiKey({ ...c, body, headers: this.idempotent(o) }), o),
    get: (apiKeyId: string, o?: RequestOptions) => this.call((c) => api.getApiKey({ ...c, path: { apiKeyId } }), o),
    update: (apiKeyId: string, body: T.ApiKeyUpdate, o?: ConditionalOptions) =>
      this.call((c) => api.updateApiKey({ ...c, path: { apiKeyId }, body, headers: ifMatch(o) }), o),
    revoke: (apiKeyId: string, o?: RequestOptions) => this.call((c) => api.revokeApiKey({ ...c, path: { apiKeyId } }), o),
    rotate: (apiKeyId: string, body?: T.ApiKeyRotate, o?: WriteOptions) =>
      this.call((c) => api.rotateApiKey({ ...c, path: { apiKeyId }, body, headers: this.idempotent(o) }), o),
  };

  readonly agents = {
    list: (query?: T.ListAgentsData['query'], o?: RequestOptions) =>
      this.list<T.Agent, T.AgentList>((page, c) => api.listAgents({ ...c, query: { ...query, page } }), query, o),
    create: (body: T.AgentCreate, o?: WriteOptions) => this.call((c) => api.createAgent({ ...c, body, headers: this.idempotent(o) }), o),
    get: (agentId: string, o?: RequestOptions) => this.call((c) => api.getAgent({ ...c, path: { agentId } }), o),
    update: (agentId: string, body: T.AgentUpdate, o?: ConditionalOptions) =>
      this.call((c) => api.updateAgent({ ...c, path: { agentId }, body, headers: ifMatch(o) }), o),
    delete: (agentId: string, o?: ConditionalOptions) => this.call((c) => api.deleteAgent({ ...c, path: { agentId }, headers: ifMatch(o) }), o),
    pause: (agentId: string, o?: RequestOptions) => this.call((c) => api.pauseAgent({ ...c, path: { agentId } }), o),
    resume: (agentId: string, o?: RequestOptions) => this.call((c) => api.resumeAgent({ ...c, path: { agentId } }), o),
    retire: (agentId: string, o?: RequestOptions) => this.call((c) => api.retireAgent({ ...c, path: { agentId } }), o),
    versions: {
      list: (agentId: string, query?: T.ListAgentVersionsData['query'], o?: RequestOptions) =>
        this.list<T.AgentVersion, T.AgentVersionList>((page, c) => api.listAgentVersions({ ...c, path: { agentId }, query: { ...query, page } }), query, o),
      get: (agentId: string, version: number, o?: RequestOptions) => this.call((c) => api.getAgentVersion({ ...c, path: { agentId, version } }), o),
    },
  };

  readonly runs = {
    create: (body: T.RunCreate, o?: RunCreateOptions) =>
      this.call(
        (c) => api.createRun({ ...c, body, headers: { ...this.idempotent(o), ...(o?.endUser ? { 'Switchboard-User': o.endUser } : {}) } }),
        o,
      ),
    list: (query?: T.ListRunsData['query'], o?: RequestOptions) =>
      this.list<T.Run, T.RunList>((page, c) => api.listRuns({ ...c, query: { ...query, page } }), query, o),
    get: (runId: string, o?: RequestOptions) => this.call((c) => api.getRun({ ...c, path: { runId } }), o),
    cancel: (runId: string, o?: RequestOptions) => this.call((c) => api.cancelRun({ ...c, path: { runId } }), o),
    resume: (runId: string, body?: T.RunResume, o?: RequestOptions) => this.call((c) => api.resumeRun({ ...c, path: { runId }, body }), o),
    /** One page of the run's stored events (`after` a seq); see `stream` to follow them live. */
    events: <Custom extends T.RunCustomEvent = never>(runId: string, query?: T.ListRunEventsData['query'], o?: RequestOptions) =>
      this.call((c) => api.listRunEvents({ ...c, path: { runId }, query }), o) as Promise<WithResponse<RunEventPage<Custom>>>,
    /**
     * The run's events, history then live, ending after its terminal status. A dropped connection
     * is resumed from the last event received: every event arrives once, in order.
     */
    stream: <Custom extends T.RunCustomEvent = never>(runId: string, o: StreamOptions = {}) =>
      runEventStream<Custom>((last, signal) => this.openStream(`/api/v1/realtime/runs/${encodeURIComponent(runId)}`, last, signal), {
        ...o,
        runFinished: async () => isTerminalStatus((await this.runs.get(runId)).status),
      }),
    /** Every run's events in the application (or one agent's), live, until you stop iterating or abort. */
    streamAll: <Custom extends T.RunCustomEvent = never>(o: StreamOptions & { agentId?: string } = {}) =>
      runEventStream<Custom>(
        (last, signal) =>
          this.openStream(o.agentId ? `/api/v1/realtime/agents/${encodeURIComponent(o.agentId)}/runs` : '/api/v1/realtime/runs', last, signal),
        o,
      ),
    /** Creates a run, follows it to its end, and returns it in its final state. */
    createAndWait: async (body: T.RunCreate, o: RunCreateOptions = {}) => {
      const run = await this.runs.create(body, o);
      for await (const event of this.runs.stream(run.id, { signal: o.signal })) void event;
      return this.runs.get(run.id, o);
    },
  };

  readonly schedules = {
    list: (query?: T.ListSchedulesData['query'], o?: RequestOptions) =>
      this.list<T.Schedule, T.ScheduleList>((page, c) => api.listSchedules({ ...c, query: { ...query, page } }), query, o),
    create: (body: T.ScheduleCreate, o?: WriteOptions) => this.call((c) => api.createSchedule({ ...c, body, headers: this.idempotent(o) }), o),
    get: (scheduleId: string, o?: RequestOptions) => this.call((c) => api.getSchedule({ ...c, path: { scheduleId } }), o),
    update: (scheduleId: string, body: T.ScheduleUpdate, o?: ConditionalOptions) =>
      this.call((c) => api.updateSchedule({ ...c, path: { scheduleId }, body, headers: ifMatch(o) }), o),
    delete: (scheduleId: string, o?: ConditionalOptions) => this.call((c) => api.deleteSchedule({ ...c, path: { scheduleId }, headers: ifMatch(o) }), o),
    pause: (scheduleId: string, o?: RequestOptions) => this.call((c) => api.pauseSchedule({ ...c, path: { scheduleId } }), o),
    resume: (scheduleId: string, o?: RequestOptions) => this.call((c) => api.resumeSchedule({ ...c, path: { scheduleId } }), o),
    /** The runs the schedule started, newest first. */
    runs: (scheduleId: string, query?: T.ListScheduleRunsData['query'], o?: RequestOptions) =>
      this.list<T.Run, T.RunList>((page, c) => api.listScheduleRuns({ ...c, path: { scheduleId }, query: { ...query, page } }), query, o),
  };

  readonly triggers = {
    list: (query?: T.ListTriggersData['query'], o?: RequestOptions) =>
      this.list<T.Trigger, T.TriggerList>((page, c) => api.listTriggers({ ...c, query: { ...query, page } }), query, o),
    create: (body: T.TriggerCreate, o?: WriteOptions) => this.call((c) => api.createTrigger({ ...c, body, headers: this.idempotent(o) }), o),
    get: (triggerId: string, o?: RequestOptions) => this.call((c) => api.getTrigger({ ...c, path: { triggerId } }), o),
    update: (triggerId: string, body: T.TriggerUpdate, o?: ConditionalOptions) =>
      this.call((c) => api.updateTrigger({ ...c, path: { triggerId }, body, headers: ifMatch(o) }), o),
    delete: (triggerId: string, o?: ConditionalOptions) => this.call((c) => api.deleteTrigger({ ...c, path: { triggerId }, headers: ifMatch(o) }), o),
    pause: (triggerId: string, o?: RequestOptions) => this.call((c) => api.pauseTrigger({ ...c, path: { triggerId } }), o),
    resume: (triggerId: string, o?: RequestOptions) => this.call((c) => api.resumeTrigger({ ...c, path: { triggerId } }), o),
    /** A new secret or token; the old one stops working at once. */
    rotateSecret: (triggerId: string, o?: WriteOptions) => this.call((c) => api.rotateTriggerSecret({ ...c, path: { triggerId }, headers: this.idempotent(o) }), o),
    /**
     * Calls a trigger as an external system would: signed with its `whsec_` secret (Standard
     * Webhooks) or with its `sbt_` token. The same `webhookId` never starts a second run.
     */
    invoke: (triggerId: string, payload: Record<string, unknown>, credential: { secret: string; webhookId?: string }, o?: RequestOptions) => {
      const body = JSON.stringify(payload);
      // The caller proves itself with the trigger's secret alone: this client's own key and app stay home.
      const headers: Record<string, string | null> = { 'Content-Type': 'application/json', Authorization: null, 'X-App-Id': null };
      if (credential.secret.startsWith('whsec_')) {
        const id = credential.webhookId ?? `msg_${newIdempotencyKey()}`;
        const at = new Date();
        Object.assign(headers, { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(credential.secret).sign(id, at, body) });
      } else {
        Object.assign(headers, { Authorization: `Bearer ${credential.secret}`, ...(credential.webhookId ? { 'webhook-id': credential.webhookId } : {}) });
      }
      return this.call((c) => api.invokeTrigger({ ...c, path: { triggerId }, body: payload as T.JsonPayload, bodySerializer: () => body, headers }), o);
    },
  };

  /** Where Switchboard sends its events (Standard Webhooks), and what it sent them. */
  readonly webhookEndpoints = {
    list: (query?: T.ListWebhookEndpointsData['query'], o?: RequestOptions) =>
      this.list<T.WebhookEndpoint, T.WebhookEndpointList>((page, c) => api.listWebhookEndpoints({ ...c, query: { ...query, page } }), query, o),
    /** The `secret` (`whsec_...`) to verify deliveries with is in this result only. */
    create: (body: T.WebhookEndpointCreate, o?: WriteOptions) => this.call((c) => api.createWebhookEndpoint({ ...c, body, headers: this.idempotent(o) }), o),
    get: (webhookEndpointId: string, o?: RequestOptions) => this.call((c) => api.getWebhookEndpoint({ ...c, path: { webhookEndpointId } }), o),
    update: (webhookEndpointId: string, body: T.WebhookEndpointUpdate, o?: ConditionalOptions) =>
      this.call((c) => api.updateWebhookEndpoint({ ...c, path: { webhookEndpointId }, body, headers: ifMatch(o) }), o),
    delete: (webhookEndpointId: string, o?: ConditionalOptions) =>
      this.call((c) => api.deleteWebhookEndpoint({ ...c, path: { webhookEndpointId }, headers: ifMatch(o) }), o),
    /** A new secret; deliveries are signed with both for `gracePeriodSeconds` (default a day). */
    rotateSecret: (webhookEndpointId: string, body?: T.WebhookSecretRotate, o?: WriteOptions) =>
      this.call((c) => api.rotateWebhookEndpointSecret({ ...c, path: { webhookEndpointId }, body, headers: this.idempotent(o) }), o),
    /** Sends a `webhook_endpoint.ping` to this endpoint alone. */
    test: (webhookEndpointId: string, o?: WriteOptions) =>
      this.call((c) => api.testWebhookEndpoint({ ...c, path: { webhookEndpointId }, headers: this.idempotent(o) }), o),
    messages: (webhookEndpointId: string, query?: T.ListWebhookMessagesData['query'], o?: RequestOptions) =>
      this.list<T.WebhookMessage, T.WebhookMessageList>((page, c) => api.listWebhookMessages({ ...c, path: { webhookEndpointId }, query: { ...query, page } }), query, o),
  };

  readonly webhookMessages = {
    get: (webhookMessageId: string, o?: RequestOptions) => this.call((c) => api.getWebhookMessage({ ...c, path: { webhookMessageId } }), o),
    attempts: (webhookMessageId: string, query?: T.ListWebhookAttemptsData['query'], o?: RequestOptions) =>
      this.list<T.WebhookAttempt, T.WebhookAttemptList>((page, c) => api.listWebhookAttempts({ ...c, path: { webhookMessageId }, query: { ...query, page } }), query, o),
    /** Sends the message again now, with the same webhook-id and a fresh retry schedule. */
    redeliver: (webhookMessageId: string, o?: WriteOptions) =>
      this.call((c) => api.redeliverWebhookMessage({ ...c, path: { webhookMessageId }, headers: this.idempotent(o) }), o),
  };

  /** Runners: registration with an application key; the rest with the runner's own token (`apiKey: 'sbr_...'`). */
  readonly runners = {
    register: (body: T.RunnerCreate, o?: WriteOptions) => this.call((c) => api.registerRunner({ ...c, body, headers: this.idempotent(o) }), o),
    list: (query?: T.ListRunnersData['query'], o?: RequestOptions) =>
      this.list<T.Runner, T.RunnerList>((page, c) => api.listRunners({ ...c, query: { ...query, page } }), query, o),
    get: (runnerId: string, o?: RequestOptions) => this.call((c) => api.getRunner({ ...c, path: { runnerId } }), o),
    delete: (runnerId: string, o?: ConditionalOptions) => this.call((c) => api.deleteRunner({ ...c, path: { runnerId }, headers: ifMatch(o) }), o),
    /** The next run for this runner, waiting up to `wait` seconds; undefined when there is none. */
    claim: (runnerId: string, query?: T.ClaimRunData['query'], o?: RequestOptions) => {
      const timeout = Math.max(o?.timeout ?? this.transport.timeout, ((query?.wait ?? 0) + 10) * 1000);
      const claimed = this.request((c) => api.claimRun({ ...c, path: { runnerId }, query }), { ...o, timeout });
      return new APIPromise(claimed.then(({ data, response }) => ({ data: 'lease' in data ? (data as WithResponse<T.Claim>) : undefined, response })));
    },
    heartbeat: (leaseId: string, body: T.HeartbeatRequest, o?: RequestOptions) => this.call((c) => api.heartbeatLease({ ...c, path: { leaseId }, body }), o),
    appendEvents: (leaseId: string, body: T.RunEventsAppend, o?: RequestOptions) => this.call((c) => api.appendRunEvents({ ...c, path: { leaseId }, body }), o),
    complete: (leaseId: string, body: T.RunComplete, o?: RequestOptions) => this.call((c) => api.completeRun({ ...c, path: { leaseId }, body }), o),
    wait: (leaseId: string, body: T.RunWait, o?: RequestOptions) => this.call((c) => api.waitRun({ ...c, path: { leaseId }, body }), o),
  };
}

const ifMatch = (o?: ConditionalOptions) => (o?.ifMatch ? { 'If-Match': o.ifMatch } : undefined);
