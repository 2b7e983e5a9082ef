import type { Logger } from 'pino';
import type { GatewayMetrics } from '../../observability/metrics.js';
import { guardedAgents, type AddressPolicy } from '../../security/addresses.js';
import type { Sealer } from '../../security/sealer.js';
import { defineHandlers, ownTransaction, type HandlerResult, type OperationId } from '../handler-types.js';
import { aliasesServing } from '../models/store.js';
import { anthropic } from './anthropic.js';
import { proxyCall, type GatewayDeps, type GatewayReply, type GatewayRoute } from './call.js';
import { openai } from './openai.js';

const CHAT: GatewayRoute = { api: 'chat', path: '/chat/completions', protocol: openai, streams: true, recorded: true };
const EMBEDDINGS: GatewayRoute = { api: 'embeddings', path: '/embeddings', protocol: openai, streams: false, recorded: true };
const MESSAGES: GatewayRoute = { api: 'messages', path: '/messages', protocol: anthropic, streams: true, recorded: true };
const COUNT_TOKENS: GatewayRoute = { api: 'messages', path: '/messages/count_tokens', protocol: anthropic, streams: false, recorded: false };

/** The Anthropic headers a caller may choose, forwarded to the provider. */
const anthropicHeaders = (headers: { 'anthropic-version'?: string; 'anthropic-beta'?: string }) => ({
  anthropicVersion: headers['anthropic-version'],
  anthropicBeta: headers['anthropic-beta'],
});

/** The provider's answer goes out as it came (its bytes, or its stream), which the generated types (a parsed object) do not describe. */
const asResult = <K extends OperationId>(reply: GatewayReply) => reply as unknown as HandlerResult<K>;

/**
 * The gateway's routes. Each call runs on the pool, never in a request transaction: a streamed
 * answer may last minutes, and the usage is recorded when it ends. Upstream connections are kept
 * alive between calls, behind the connect-time address guard of the providers' policy.
 */
export function gatewayHandlers(options: { sealer: Sealer; policy: AddressPolicy; logger: Logger; metrics?: GatewayMetrics | undefined }) {
  const deps: GatewayDeps = { sealer: options.sealer, agents: guardedAgents(options.policy, true), logger: options.logger, metrics: options.metrics };
  const noCallerHeaders = { anthropicVersion: undefined, anthropicBeta: undefined };

  return defineHandlers({
    createChatCompletion: ownTransaction<'createChatCompletion'>(async (input) =>
      asResult<'createChatCompletion'>(await proxyCall({ ...input, caller: noCallerHeaders }, CHAT, deps)),
    ),

    createEmbeddings: ownTransaction<'createEmbeddings'>(async (input) =>
      asResult<'createEmbeddings'>(await proxyCall({ ...input, caller: noCallerHeaders }, EMBEDDINGS, deps)),
    ),

    createAnthropicMessage: ownTransaction<'createAnthropicMessage'>(async (input) =>
      asResult<'createAnthropicMessage'>(await proxyCall({ ...input, caller: anthropicHeaders(input.headers) }, MESSAGES, deps)),
    ),

    countAnthropicTokens: ownTransaction<'countAnthropicTokens'>(async (input) =>
      asResult<'countAnthropicTokens'>(await proxyCall({ ...input, caller: anthropicHeaders(input.headers) }, COUNT_TOKENS, deps)),
    ),

    listGatewayModels: async ({ db, auth }) => {
      const rows = await aliasesServing(db, auth.applicationId, ['chat', 'embeddings']);
      const data = rows.map((row) => ({
        id: row.alias,
        object: 'model' as const,
        created: Math.floor(Date.parse(row.created_at) / 1000),
        owned_by: row.provider_name,
      }));
      return { status: 200, body: { object: 'list', data } };
    },
  });
}
