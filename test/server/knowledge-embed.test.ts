import { closeDatabase, createSealer, openDatabase } from '@switchboard/server';
import type { Db } from '../../server/src/db/database.js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedTexts, EmbeddingError, type EmbedDeps } from '../../server/src/resources/knowledge/embed.js';
import { reciprocalRankFusion } from '../../server/src/resources/knowledge/ranking.js';
import { guardedAgents } from '../../server/src/security/addresses.js';
import { masterKeyFor } from '../support/databases.js';
import { cosine, hashEmbedDimensions, hashingEmbedding } from '../support/hashing-embedder.js';
import { aliasName, createAlias, createProvider, num, startGateway, type Gateway, type UsageRow } from './gateway-helpers.js';

const norm = (v: number[]) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
/** The largest difference of two vectors' components (a re-normalised vector differs in its last bits). */
const gap = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));

describe('ranking', () => {
  it('fuses ranked lists by the sum of 1 / (k + rank), ranks from 1', () => {
    const fused = reciprocalRankFusion([
      ['a', 'b', 'c'],
      ['b', 'd'],
    ]);
    expect(fused.get('a')).toBeCloseTo(1 / 61, 12);
    expect(fused.get('b')).toBeCloseTo(1 / 62 + 1 / 61, 12);
    expect(fused.get('c')).toBeCloseTo(1 / 63, 12);
    expect(fused.get('d')).toBeCloseTo(1 / 62, 12);
    expect([...fused].sort((x, y) => y[1] - x[1]).map(([id]) => id)).toEqual(['b', 'a', 'd', 'c']);
    expect(reciprocalRankFusion([['x']], 0).get('x')).toBe(1);
    expect(reciprocalRankFusion([]).size).toBe(0);
  });
});

describe('hashing embedder', () => {
  it('is deterministic, of the asked dimension, and of unit length', () => {
    const v = hashingEmbedding('The quick brown fox jumps over the lazy dog', 64);
    expect(v).toHaveLength(64);
    expect(hashingEmbedding('the QUICK brown fox, jumps over the lazy dog!', 64)).toEqual(v);
    expect(norm(v)).toBeCloseTo(1, 12);
    expect(hashingEmbedding('', 16)).toEqual(new Array(16).fill(0));
  });

  it('puts texts that share words closer than unrelated ones', () => {
    const query = hashingEmbedding('how do I reset my password', 384);
    const near = hashingEmbedding('To reset your password, open the account settings', 384);
    const far = hashingEmbedding('Invoices are sent on the first day of each month', 384);
    expect(cosine(query, near)).toBeGreaterThan(0.1);
    expect(Math.abs(cosine(query, far))).toBeLessThan(0.05);
  });

  it('takes its dimension from the request, else the model name, else 384', () => {
    expect(hashEmbedDimensions('hash-embed-384', 32)).toBe(32);
    expect(hashEmbedDimensions('hash-embed-128', undefined)).toBe(128);
    expect(hashEmbedDimensions('hash-embed', undefined)).toBe(384);
  });
});

describe('embedTexts against the test provider', () => {
  let gateway: Gateway;
  // The server's own connection kind (the gateway's `db` is read-only): embedTexts writes the usage ledger.
  let db: Db;
  let deps: EmbedDeps;
  let applicationId: string;
  const usage = async (requestId: string) =>
    (await gateway.db('usage_events').where('request_id', 'like', `${requestId}:%`).orderBy('request_id')) as UsageRow[];

  beforeAll(async () => {
    gateway = await startGateway();
    const { kind, url } = gateway.server.database;
    db = await openDatabase(kind === 'sqlite' ? { client: 'sqlite', filename: url } : { client: 'pg', url });
    deps = {
      db,
      sealer: createSealer(Buffer.from(masterKeyFor(gateway.server.database), 'base64')),
      agents: guardedAgents({ allowPrivate: false, allowList: ['127.0.0.1'] }),
      logger: pino({ level: 'silent' }),
    };
    const chat = await createAlias(gateway, { alias: aliasName('chat'), api: 'chat' });
    applicationId = ((await gateway.db('models').where({ id: chat.id }).first()) as { application_id: string }).application_id;
  }, 60_000);
  afterAll(async () => {
    await closeDatabase(db);
    await gateway.stop();
  });

  it('embeds in batches of 96, normalised, in input order, each batch one usage row', async () => {
    const alias = aliasName('embed');
    await createAlias(gateway, {
      alias,
      api: 'embeddings',
      upstreamModel: 'hash-embed-64',
      pricing: { inputMicrosPerMillionTokens: 1_000_000, outputMicrosPerMillionTokens: 0 },
    });
    const texts = Array.from({ length: 100 }, (_, i) => `chunk number ${String(i)} about ${i % 2 ? 'passwords' : 'invoices'}`);
    const { vectors, dimensions } = await embedTexts(deps, { applicationId, alias, texts, requestId: 'req_embed_batches' });
    expect(dimensions).toBe(64);
    expect(vectors).toHaveLength(100);
    vectors.forEach((v, i) => {
      expect(norm(v)).toBeCloseTo(1, 6);
      expect(gap(v, hashingEmbedding(texts[i]!, 64))).toBeLessThan(1e-12);
    });
    const rows = await usage('req_embed_batches');
    expect(rows.map((r) => r.request_id)).toEqual(['req_embed_batches:0', 'req_embed_batches:1']);
    for (const row of rows) {
      expect(row).toMatchObject({
        application_id: applicationId,
        alias,
        api: 'embeddings',
        outcome: 'succeeded',
        upstream_model: 'hash-embed-64',
        attempts: 1,
      });
      expect((row as UsageRow & { source: string }).source).toBe('knowledge');
      expect(num(row.input_tokens)).toBeGreaterThan(0);
      expect(num(row.cost_micros)).toBe(num(row.input_tokens));
    }
  });

  it('refuses an alias that is missing or serves another api, naming it', async () => {
    const chat = await createAlias(gateway, { alias: aliasName('chat'), api: 'chat' });
    for (const alias of [chat.alias, 'no-such-alias']) {
      const failed = await embedTexts(deps, { applicationId, alias, texts: ['x'], requestId: 'req_embed_none' }).catch((err: unknown) => err);
      expect(failed).toBeInstanceOf(EmbeddingError);
      expect(failed).toMatchObject({ code: 'embedding_not_configured', message: expect.stringContaining(`"${alias}"`) as string });
    }
  });

  it('falls over to a fallback when the provider refuses its credential, and fails safely when none is left', async () => {
    const wrongCredential = 'sk-wrong-credential-0123456789';
    const refused = await createProvider(gateway, 'openai', { credential: wrongCredential });
    const good = await createAlias(gateway, { alias: aliasName('embed'), api: 'embeddings', upstreamModel: 'hash-embed-16' });
    const withFallback = await createAlias(gateway, {
      alias: aliasName('embed'),
      api: 'embeddings',
      providerId: refused.id,
      upstreamModel: 'hash-embed-16',
      fallbacks: [good.alias],
    });
    const { vectors } = await embedTexts(deps, { applicationId, alias: withFallback.alias, texts: ['reset a password'], requestId: 'req_embed_fallback' });
    expect(gap(vectors[0]!, hashingEmbedding('reset a password', 16))).toBeLessThan(1e-12);
    expect(await usage('req_embed_fallback')).toMatchObject([{ outcome: 'succeeded', attempts: 2, fallbacks_used: 1, alias: withFallback.alias }]);

    const alone = await createAlias(gateway, { alias: aliasName('embed'), api: 'embeddings', providerId: refused.id, upstreamModel: 'hash-embed-16' });
    const failed = await embedTexts(deps, { applicationId, alias: alone.alias, texts: ['x'], requestId: 'req_embed_refused' }).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(EmbeddingError);
    expect(failed).toMatchObject({ code: 'embedding_failed', message: expect.stringContaining('401') as string });
    expect((failed as Error).message).not.toContain(wrongCredential);
    expect((failed as Error).message).not.toContain(gateway.credential);
    expect(await usage('req_embed_refused')).toMatchObject([{ outcome: 'failed', error_code: 'embedding_failed', upstream_status: 401, attempts: 1 }]);
  });
});
