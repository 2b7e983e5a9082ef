import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { anthropicError, checkMessagesRequest, message, messageEvents, tokenCount } from './test-provider-anthropic.js';
import { parseMultipart, RESPONSE_FORMATS, transcription, type Multipart } from './test-provider-audio.js';
import { chatCompletion, chatCompletionChunks, checkChatRequest, embeddings, modelList, openaiError } from './test-provider-openai.js';
import {
  pause,
  playStream,
  randomId,
  sendJson,
  untilClosed,
  type Outcome,
  type RecordedRequest,
  type Reply,
  type ReplyScript,
} from './test-provider-script.js';

export type { RecordedRequest, Reply, ReplyScript, ScriptedToolCall } from './test-provider-script.js';
export { sineWav, wavDurationSeconds } from './wav.js';

/**
 * A model provider on loopback for tests: it speaks OpenAI's chat completions, embeddings, models
 * and audio transcriptions and Anthropic's messages and token counts closely enough that the
 * official SDKs accept it, answers each request with the next scripted reply (faults included),
 * and records what it received.
 */
export type TestProvider = {
  /** `http://127.0.0.1:<port>`: Anthropic SDKs take it as their `baseURL`. */
  readonly url: string;
  /** `<url>/v1`: OpenAI SDKs take it as their `baseURL`. */
  readonly openaiBaseUrl: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** The ids `GET /v1/models` lists. */
  readonly models: string[];
  /** Queues replies: each request to a scripted endpoint takes the next one (a function is called with the request). */
  reply(...scripts: ReplyScript[]): void;
  /** Replies still queued. */
  pending(): number;
  /** Destroys open connections and stops listening. */
  close(): Promise<void>;
};

export type TestProviderOptions = {
  /** The reply when nothing is queued (default: a short text answer). */
  defaultReply?: ReplyScript;
  /**
   * When set, requests must carry it, else 401: as `Authorization: Bearer`, or for Anthropic also as
   * `x-api-key` (Anthropic SDKs before 1.0 send that header, later ones a bearer token).
   */
  apiKey?: string;
  models?: string[];
};

type Protocol = 'openai' | 'anthropic';
type Route = { protocol: Protocol; handle: (ctx: Exchange) => Promise<void> };
type Exchange = {
  req: IncomingMessage;
  res: ServerResponse;
  record: RecordedRequest;
  models: readonly string[];
  /** The next scripted reply for this request. */
  reply: () => Promise<Reply>;
  markCut: () => void;
  /** Answers 400 in the protocol's envelope, as the provider refuses a request it cannot take (no reply is used). */
  refuse: (protocol: Protocol, message: string, param?: string) => void;
};

const MAX_JSON_BYTES = 10 * 1024 * 1024;

function readJson(req: IncomingMessage): Promise<Record<string, unknown> | 'invalid'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_JSON_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        resolve(
          size <= MAX_JSON_BYTES && typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : 'invalid',
        );
      } catch {
        resolve('invalid');
      }
    });
    req.on('error', reject);
  });
}

const errorBody = (protocol: Protocol, status: number, error: Reply['error'], param?: string) =>
  protocol === 'anthropic' ? anthropicError(status, error) : openaiError(status, error, param ?? null);

/** Plays the reply's delay, hang and error status; true when the request was answered (or dropped) and nothing more is to be sent. */
async function preamble({ res, markCut }: Exchange, reply: Reply, protocol: Protocol): Promise<boolean> {
  if (reply.delayMs) await pause(reply.delayMs, res);
  if (reply.hang) {
    await untilClosed(res);
    return true;
  }
  if (res.closed) return true;
  if (reply.status !== undefined && reply.status >= 400) {
    sendJson(res, reply.status, errorBody(protocol, reply.status, reply.error), reply, markCut, requestIdHeader(protocol));
    return true;
  }
  if (reply.error) {
    sendJson(res, 500, errorBody(protocol, 500, reply.error), reply, markCut, requestIdHeader(protocol));
    return true;
  }
  return false;
}

const requestIdHeader = (protocol: Protocol): Record<string, string> =>
  protocol === 'anthropic' ? { 'request-id': randomId('req_011') } : { 'x-request-id': randomId('req_') };

async function jsonBody(ctx: Exchange, protocol: Protocol): Promise<Record<string, unknown> | undefined> {
  const body = await readJson(ctx.req);
  if (body !== 'invalid') {
    ctx.record.body = body;
    return body;
  }
  ctx.refuse(protocol, 'We could not parse the JSON body of your request.');
  return undefined;
}

const routes: Record<string, Route> = {
  'POST /v1/chat/completions': {
    protocol: 'openai',
    async handle(ctx) {
      const body = await jsonBody(ctx, 'openai');
      if (!body) return;
      const invalid = checkChatRequest(body);
      if (invalid) {
        ctx.refuse('openai', invalid.message, invalid.param);
        return;
      }
      const reply = await ctx.reply();
      if (await preamble(ctx, reply, 'openai')) return;
      const headers = { ...requestIdHeader('openai'), ...reply.headers };
      if (body.stream === true) return playStream(ctx.res, { ...reply, headers }, chatCompletionChunks(reply, body), ctx.markCut);
      sendJson(ctx.res, 200, chatCompletion(reply, body), reply, ctx.markCut, headers);
    },
  },
  'POST /v1/embeddings': {
    protocol: 'openai',
    async handle(ctx) {
      const body = await jsonBody(ctx, 'openai');
      if (!body) return;
      if (typeof body.model !== 'string' || body.input === undefined) {
        ctx.refuse('openai', 'model and input are required.');
        return;
      }
      const reply = await ctx.reply();
      if (await preamble(ctx, reply, 'openai')) return;
      sendJson(ctx.res, 200, embeddings(reply, body), reply, ctx.markCut, requestIdHeader('openai'));
    },
  },
  'GET /v1/models': {
    protocol: 'openai',
    handle(ctx) {
      sendJson(ctx.res, 200, modelList(ctx.models), {}, ctx.markCut, requestIdHeader('openai'));
      return Promise.resolve();
    },
  },
  'POST /v1/audio/transcriptions': {
    protocol: 'openai',
    async handle(ctx) {
      let form: Multipart;
      try {
        if (!ctx.req.headers['content-type']?.startsWith('multipart/form-data')) throw new Error('The request must be multipart/form-data.');
        form = await parseMultipart(ctx.req);
      } catch (err) {
        ctx.refuse('openai', (err as Error).message);
        return;
      }
      ctx.record.body = form;
      const refusal = !form.file
        ? { message: "Missing required parameter: 'file'.", param: 'file' }
        : typeof form.model !== 'string'
          ? { message: "Missing required parameter: 'model'.", param: 'model' }
          : form.response_format !== undefined && !(RESPONSE_FORMATS as readonly unknown[]).includes(form.response_format)
            ? { message: `Invalid value for 'response_format': must be one of ${RESPONSE_FORMATS.join(', ')}.`, param: 'response_format' }
            : undefined;
      if (refusal) {
        ctx.refuse('openai', refusal.message, refusal.param);
        return;
      }
      const reply = await ctx.reply();
      if (await preamble(ctx, reply, 'openai')) return;
      const { contentType, body } = transcription(reply, form);
      const bytes = Buffer.from(body);
      ctx.res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': bytes.length, ...requestIdHeader('openai'), ...reply.headers });
      ctx.res.end(bytes);
    },
  },
  'POST /v1/messages': {
    protocol: 'anthropic',
    async handle(ctx) {
      const body = await jsonBody(ctx, 'anthropic');
      if (!body) return;
      const invalid = checkMessagesRequest(body);
      if (invalid) {
        ctx.refuse('anthropic', invalid);
        return;
      }
      const reply = await ctx.reply();
      if (await preamble(ctx, reply, 'anthropic')) return;
      const headers = { ...requestIdHeader('anthropic'), ...reply.headers };
      if (body.stream === true) return playStream(ctx.res, { ...reply, headers }, messageEvents(reply, body), ctx.markCut);
      sendJson(ctx.res, 200, message(reply, body), reply, ctx.markCut, headers);
    },
  },
  'POST /v1/messages/count_tokens': {
    protocol: 'anthropic',
    async handle(ctx) {
      const body = await jsonBody(ctx, 'anthropic');
      if (!body) return;
      const invalid = typeof body.model !== 'string' ? 'model: Field required' : Array.isArray(body.messages) ? undefined : 'messages: Field required';
      if (invalid) {
        ctx.refuse('anthropic', invalid);
        return;
      }
      const reply = await ctx.reply();
      if (await preamble(ctx, reply, 'anthropic')) return;
      sendJson(ctx.res, 200, tokenCount(reply, body), reply, ctx.markCut, requestIdHeader('anthropic'));
    },
  },
};

function authorised(req: IncomingMessage, protocol: Protocol, apiKey: string | undefined): boolean {
  if (apiKey === undefined) return true;
  return req.headers.authorization === `Bearer ${apiKey}` || (protocol === 'anthropic' && req.headers['x-api-key'] === apiKey);
}

export async function startTestProvider(options: TestProviderOptions = {}): Promise<TestProvider> {
  const queue: ReplyScript[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const models = options.models ?? ['gpt-4.1-mini', 'gpt-4o', 'text-embedding-3-small', 'whisper-1'];
  const defaultReply = options.defaultReply ?? {};

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    let settle!: (outcome: Outcome) => void;
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      headers: req.headers,
      body: undefined,
      outcome: 'pending',
      settled: new Promise<Outcome>((resolve) => (settle = resolve)),
    };
    requests.push(record);
    const finish = (outcome: Outcome) => {
      if (record.outcome !== 'pending') return;
      record.outcome = outcome;
      settle(outcome);
    };
    res.on('close', () => finish(res.writableFinished ? 'completed' : 'aborted'));
    const exchange: Exchange = {
      req,
      res,
      record,
      models,
      markCut: () => finish('cut'),
      refuse: (protocol, message, param) => sendJson(res, 400, errorBody(protocol, 400, { message }, param), {}, exchange.markCut, requestIdHeader(protocol)),
      reply: async () => {
        const script = queue.shift() ?? defaultReply;
        return typeof script === 'function' ? script(record) : script;
      },
    };
    const route = routes[`${record.method} ${path}`];
    if (!route) {
      const body = openaiError(404, { message: `Unknown request URL: ${record.method} ${path}.`, code: 'unknown_url' });
      sendJson(res, 404, path.startsWith('/v1/messages') ? anthropicError(404) : body, {}, exchange.markCut);
      return;
    }
    if (!authorised(req, route.protocol, options.apiKey)) {
      req.resume();
      sendJson(res, 401, errorBody(route.protocol, 401, {}), {}, exchange.markCut, requestIdHeader(route.protocol));
      return;
    }
    await route.handle(exchange);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, openaiError(500, { message: (err as Error).message }), {}, () => undefined);
      else res.destroy();
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${String(port)}`;

  return {
    url,
    openaiBaseUrl: `${url}/v1`,
    requests,
    models,
    reply: (...scripts) => queue.push(...scripts),
    pending: () => queue.length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
