import { createClient, createConfig, type Client } from './generated/client/index.js';
import * as api from './generated/sdk.gen.js';
import * as generated from './generated/resources.gen.js';
import type * as T from './generated/types.gen.js';
import { Webhook } from 'standardwebhooks';
import { APIPromise, type DataAndResponse } from './api-promise.js';
import { idempotent, newIdempotencyKey, type RequestOptions, type RunCreateOptions, type WriteOptions } from './call-options.js';
import { responseError } from './errors.js';
import type { RunEventPage } from './events.js';
import type { Operation, OperationRunner, PageOperation, ResponseInfo, WithResponse } from './operation.js';
import { PageList, type Page } from './pagination.js';
import { drain, isTerminalStatus, runEventStream } from './stream.js';
import { callFetch, type TransportOptions } from './transport.js';
import { userAgent } from './user-agent.js';

export type SwitchboardOptions = {
  /**
   * An application key (`sbk_...`), a personal token (`sbp_...`, with `appId` for application
   * resources), or a runner's token (`sbr_...`); defaults to SWITCHBOARD_API_KEY.
   */
  apiKey?: string;
  /** Defaults to SWITCHBOARD_BASE_URL, then http://127.0.0.1:3000. */
  baseUrl?: string;
  /** The application to act in (admin keys may choose another application of their organization). */
  appId?: string;
  /** Act on behalf of this end-user of your application (sent as Switchboard-User). */
  endUser?: string;
  /** The organization a signed-in person acts in, when they belong to several (sent as X-Org-Id). */
  orgId?: string;
  /**
   * A signed-in person's session, as `Switchboard.logIn` opens it: sent as the session cookie with
   * the CSRF token. In a browser on the server's own origin the browser sends the cookie itself;
   * pass the session only outside one (Node, the CLI).
   */
  session?: SessionCredentials;
  /**
   * The API version to speak (YYYY-MM-DD, sent as Switchboard-Version). By default the version
   * this SDK was generated for (`API_VERSION`), so its types match what the server answers
   * whatever the key or organization is pinned to; `null` sends none (the key's or organization's
   * pin applies).
   */
  version?: string | null;
  /** Retries after a failed attempt: network errors, 408, 409 idempotency-in-flight, 429, 5xx. Default 2. */
  maxRetries?: number;
  /** Milliseconds per attempt. Default 60 000. */
  timeout?: number;
  fetch?: typeof fetch;
  /** Sent on every request as well, after the others: a W3C `traceparent`, for one. */
  headers?: Record<string, string>;
};

export type StreamOptions = { after?: number; signal?: AbortSignal };

/** A file to import into a knowledge base: its bytes, the filename it is known by, and optionally a name and metadata. */
export type KnowledgeDocumentUpload = {
  file: Blob | Uint8Array;
  filename: string;
  /** Defaults to the filename. */
  name?: string;
  metadata?: Record<string, unknown>;
};

/** A cookie session: the `sb_session` cookie's value and the CSRF token its writes send. */
export type SessionCredentials = { token: string; csrfToken: string };

/** The value of a cookie among a response's Set-Cookie headers. */
const cookieValue = (headers: Headers, name: string) =>
  headers
    .getSetCookie()
    .map((line) => line.split(';')[0]!)
    .find((pair) => pair.startsWith(`${name}=`))
    ?.slice(name.length + 1);

/** Environment variables where there are any (Node, Deno, Bun); browsers have none. */
const env = (name: string): string | undefined => (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];

/**
 * The Switchboard API, grouped by resource, on the client generated from the spec. The resources and
 * their methods are generated (`generated/resources.gen.ts`); this class runs their operations and
 * adds the methods that are more than one operation: streams, signed trigger calls, claims.
 */
export class Switchboard extends generated.Resources {
  readonly client: Client;
  readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly transport: TransportOptions;
  /** How the generated resources run their operations: with this client's transport, errors and pagination. */
  protected readonly operations: OperationRunner = {
    call: (operation, o) => this.call(operation, o),
    list: (fetchPage, query, o) => this.list(fetchPage, query, o),
  };

  constructor(private readonly options: SwitchboardOptions = {}) {
    super();
    const apiKey = options.apiKey ?? env('SWITCHBOARD_API_KEY');
    this.baseUrl = (options.baseUrl ?? env('SWITCHBOARD_BASE_URL') ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
    this.headers = {
      ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}),
      ...(options.appId ? { 'X-App-Id': options.appId } : {}),
      ...(options.endUser ? { 'Switchboard-User': options.endUser } : {}),
      ...(options.orgId ? { 'X-Org-Id': options.orgId } : {}),
      ...(options.session
        ? { Cookie: `sb_session=${options.session.token}; sb_csrf=${options.session.csrfToken}`, 'X-CSRF-Token': options.session.csrfToken }
        : {}),
      ...(options.version === null ? {} : { 'Switchboard-Version': options.version ?? generated.API_VERSION }),
      ...(userAgent ? { 'User-Agent': userAgent } : {}),
      ...options.headers,
    };
    this.transport = {
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      maxRetries: options.maxRetries ?? 2,
      timeout: options.timeout ?? 60_000,
    };
    this.client = createClient(createConfig({ baseUrl: this.baseUrl, headers: this.headers, fetch: this.transport.fetch }));
  }

  /**
   * Logs a person in with their email and password and returns a client acting as them through the
   * new session (see `session`), with the login's user and session. Outside a browser this is how a
   * script or the CLI gets to the operations only a session may call, such as creating a personal token.
   */
  static async logIn(
    credentials: { email: string; password: string },
    options: Omit<SwitchboardOptions, 'apiKey' | 'session'> = {},
  ): Promise<{ client: Switchboard; login: T.LoginResult; session: SessionCredentials }> {
    const anonymous = new Switchboard({ ...options, apiKey: '' });
    const login = await anonymous.auth.logIn(credentials);
    const token = cookieValue(login.lastResponse.headers, 'sb_session');
    if (!token) throw new Error('The login set no session cookie: is a proxy between this client and the server dropping Set-Cookie?');
    const session = { token, csrfToken: login.csrfToken };
    // No apiKey, not even SWITCHBOARD_API_KEY's: a bearer credential would win over the session.
    return { client: new Switchboard({ ...options, apiKey: '', session }), login, session };
  }

  /**
   * A client of the same server, transport and version acting with another credential: a claim's
   * run token (what a run asks people with), an end-user's token. Nothing else of this client's
   * identity (application, end-user, session) carries over.
   */
  withApiKey(apiKey: string): Switchboard {
    const { appId: _appId, endUser: _endUser, orgId: _orgId, session: _session, ...transport } = this.options;
    return new Switchboard({ ...transport, baseUrl: this.baseUrl, apiKey });
  }

  /** The same client (credential, identity, transport) sending these headers too: a runner's calls for a run carry its `traceparent`. */
  withHeaders(headers: Record<string, string>): Switchboard {
    return new Switchboard({ ...this.options, baseUrl: this.baseUrl, headers: { ...this.options.headers, ...headers } });
  }

  /** Runs one generated operation with this client's transport: its data and response, or a typed error. */
  private async request<D>(operation: Operation<D>, options: RequestOptions = {}): Promise<DataAndResponse<WithResponse<D>>> {
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

  private call<D>(operation: Operation<D>, options?: RequestOptions): APIPromise<WithResponse<D>> {
    return new APIPromise(this.request(operation, options));
  }

  private list<Item, P extends Page<Item>>(
    fetchPage: PageOperation<P>,
    query: { page?: number } | undefined,
    options?: RequestOptions,
  ): PageList<Item, WithResponse<P>> {
    return new PageList((page) => this.request((o) => fetchPage(page, o), options), query?.page ?? 1);
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

  // The generated resources that also have hand-written methods.
  override readonly runs = Object.assign(generated.runs(this.operations), {
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
        (last, signal) => this.openStream(o.agentId ? `/api/v1/realtime/agents/${encodeURIComponent(o.agentId)}/runs` : '/api/v1/realtime/runs', last, signal),
        o,
      ),
    /** Creates a run, follows it to its end, and returns it in its final state. */
    createAndWait: async (body: T.RunCreate, o: RunCreateOptions = {}) => {
      const run = await this.runs.create(body, o);
      await drain(this.runs.stream(run.id, { signal: o.signal }));
      return this.runs.get(run.id, o);
    },
  });

  override readonly threads = Object.assign(generated.threads(this.operations), {
    /**
     * The events of the thread's runs, one run after another (their status changes, output,
     * tool calls, and `thread.message` for each message they add), history then live, until you
     * stop iterating or abort. A dropped connection is resumed from the last event received.
     */
    stream: <Custom extends T.RunCustomEvent = never>(threadId: string, o: StreamOptions = {}) =>
      runEventStream<Custom>((last, signal) => this.openStream(`/api/v1/realtime/threads/${encodeURIComponent(threadId)}`, last, signal), o),
  });

  override readonly inbox = Object.assign(generated.inbox(this.operations), {
    /**
     * What waits on you, as it changes: the approval events of the approvals you may decide
     * (`approval.requested` adds one to your inbox, `decided`, `expired` and `cancelled` take it
     * out), history then live, until you stop iterating or abort. A dropped connection is resumed
     * from the last event received.
     */
    stream: (o: StreamOptions & Pick<NonNullable<T.StreamInboxData['query']>, 'kind' | 'threadId' | 'agentId'> = {}) => {
      const { after, signal, ...filters } = o;
      const query = new URLSearchParams(Object.entries(filters).filter((entry): entry is [string, string] => typeof entry[1] === 'string')).toString();
      return runEventStream((last, s) => this.openStream(`/api/v1/realtime/inbox${query ? `?${query}` : ''}`, last, s), { after, signal }) as AsyncGenerator<
        T.RunApprovalEvent,
        void,
        undefined
      >;
    },
  });

  override readonly triggers = Object.assign(generated.triggers(this.operations), {
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
        Object.assign(headers, {
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': new Webhook(credential.secret).sign(id, at, body),
        });
      } else {
        Object.assign(headers, { Authorization: `Bearer ${credential.secret}`, ...(credential.webhookId ? { 'webhook-id': credential.webhookId } : {}) });
      }
      return this.call((c) => api.invokeTrigger({ ...c, path: { triggerId }, body: payload as T.JsonPayload, bodySerializer: () => body, headers }), o);
    },
  });

  override readonly knowledgeDocuments = Object.assign(generated.knowledgeDocuments(this.operations), {
    /**
     * Imports a file (text, Markdown, HTML, PDF or .docx; the server finds the format from its
     * content) as a `multipart/form-data` upload: 202 with the document `queued`, or 200 with the
     * document that already holds the same content. `create` sends JSON text or Markdown.
     */
    upload: (kbId: string, upload: KnowledgeDocumentUpload, o?: WriteOptions) => {
      const form = new FormData();
      if (upload.name !== undefined) form.append('name', upload.name);
      if (upload.metadata !== undefined) form.append('metadata', JSON.stringify(upload.metadata));
      // A copy: Blob takes bytes over an ArrayBuffer only, and a Uint8Array may sit on a SharedArrayBuffer.
      form.append('file', upload.file instanceof Blob ? upload.file : new Blob([new Uint8Array(upload.file)]), upload.filename);
      // No Content-Type of our own: fetch sets multipart/form-data with the form's boundary.
      const headers = { ...idempotent(o), 'Content-Type': null };
      return this.call(
        (c) => api.createKnowledgeDocument({ ...c, path: { kbId }, body: form as unknown as T.KnowledgeDocumentCreate, bodySerializer: null, headers }),
        o,
      );
    },
  });

  /** Runners: registration with an application key; the rest with the runner's own token (`apiKey: 'sbr_...'`). */
  override readonly runners = Object.assign(generated.runners(this.operations), {
    /** The next run for this runner, waiting up to `wait` seconds; undefined when there is none. */
    claim: (runnerId: string, query?: T.ClaimRunData['query'], o?: RequestOptions) => {
      const timeout = Math.max(o?.timeout ?? this.transport.timeout, ((query?.wait ?? 0) + 10) * 1000);
      const claimed = this.request((c) => api.claimRun({ ...c, path: { runnerId }, query }), { ...o, timeout });
      return new APIPromise(claimed.then(({ data, response }) => ({ data: 'lease' in data ? (data as WithResponse<T.Claim>) : undefined, response })));
    },
  });
}
