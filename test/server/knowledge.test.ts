import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { components } from '../../server/src/generated/openapi.js';
import { call, expectProblem, isolatedApp, type Conn } from './run-helpers.js';

type KnowledgeBase = components['schemas']['KnowledgeBase'];

let conn: Conn;

beforeAll(async () => {
  const app = await isolatedApp('knowledge');
  conn = { baseUrl: inject('serverUrl'), key: app.key };
});

describe('knowledge bases', () => {
  it('are created with the default chunking, listed newest first, patched, and deleted', async () => {
    const first = await call<KnowledgeBase>(conn, 'POST', '/api/v1/knowledge-bases', { name: 'Handbook', metadata: { team: 'support' } });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body).toMatchObject({
      object: 'knowledge_base',
      name: 'Handbook',
      description: null,
      chunking: { maxTokens: 512, overlapTokens: 64 },
      metadata: { team: 'support' },
    });
    expect(first.body.id).toMatch(/^kb_[0-7][0-9a-hjkmnp-tv-z]{25}$/);
    expect(first.headers.get('location')).toBe(`/api/v1/knowledge-bases/${first.body.id}`);
    const second = await call<KnowledgeBase>(conn, 'POST', '/api/v1/knowledge-bases', {
      name: 'Runbooks',
      description: 'On-call',
      chunking: { maxTokens: 128, overlapTokens: 16 },
    });
    expect(second.body.chunking).toEqual({ maxTokens: 128, overlapTokens: 16 });

    const listed = await call<{ data: KnowledgeBase[]; pagination: { total: number } }>(conn, 'GET', '/api/v1/knowledge-bases');
    expect(listed.body.data.map((b) => b.id)).toEqual([second.body.id, first.body.id]);

    const patched = await call<KnowledgeBase>(conn, 'PATCH', `/api/v1/knowledge-bases/${first.body.id}`, {
      description: 'Public docs',
      chunking: { overlapTokens: 0 },
      metadata: { team: null, lang: 'en' },
    });
    expect(patched.body).toMatchObject({ description: 'Public docs', chunking: { maxTokens: 512, overlapTokens: 0 }, metadata: { lang: 'en' } });
    const cleared = await call<KnowledgeBase>(conn, 'PATCH', `/api/v1/knowledge-bases/${first.body.id}`, { description: null });
    expect(cleared.body.description).toBeNull();

    expect((await call(conn, 'DELETE', `/api/v1/knowledge-bases/${second.body.id}`)).status).toBe(204);
    expectProblem(await call(conn, 'GET', `/api/v1/knowledge-bases/${second.body.id}`), 404, 'not-found');
  });

  it('refuses an overlap as long as the chunk itself', async () => {
    expectProblem(
      await call(conn, 'POST', '/api/v1/knowledge-bases', { name: 'x', chunking: { maxTokens: 64, overlapTokens: 64 } }),
      422,
      'validation-error',
      'overlapTokens',
    );
    const base = (await call<KnowledgeBase>(conn, 'POST', '/api/v1/knowledge-bases', { name: 'y', chunking: { maxTokens: 64, overlapTokens: 8 } })).body;
    expectProblem(await call(conn, 'PATCH', `/api/v1/knowledge-bases/${base.id}`, { chunking: { maxTokens: 32, overlapTokens: 40 } }), 422, 'validation-error');
  });
});
