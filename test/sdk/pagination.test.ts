import { beforeAll, describe, expect, it } from 'vitest';
import { Switchboard, type Agent } from '@switchboard/sdk';
import { createKey } from '../server/helpers.js';
import { ownApp, token } from './helpers.js';

const TOTAL = 250;
let q: string;
let created: Agent[];
/** List requests (path and query) the reading client sent. */
const requests: string[] = [];
let reader: Switchboard;

beforeAll(async () => {
  const app = await ownApp('sdk pagination');
  // 250 creates exceed one key's write budget (120 a minute): three keys of the application share them.
  const keys = [app.key, ...(await Promise.all([1, 2].map(async () => (await createKey({ scopes: ['admin'], by: app.key })).secret)))];
  const writers = keys.map((apiKey) => new Switchboard({ baseUrl: app.serverUrl, apiKey }));
  reader = new Switchboard({
    baseUrl: app.serverUrl,
    apiKey: app.key,
    fetch: (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      requests.push(`${url.pathname}${url.search}`);
      return fetch(input, init);
    },
  });

  q = `pg${token()}`;
  created = [];
  let next = 0;
  // Ten workers, each taking the next index until all are created: at most TOTAL creates.
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      for (let i = next++; i < TOTAL; i = next++) {
        created.push(await writers[i % writers.length]!.agents.create({ name: `${q} agent ${i}`, model: 'gpt-4.1' }));
      }
    }),
  );
  expect(created).toHaveLength(TOTAL);
}, 120_000);

/** Newest first: createdAt descending, id descending among equals. */
function expectNewestFirst(agents: Agent[]) {
  for (let i = 1; i < agents.length; i++) {
    const [a, b] = [agents[i - 1]!, agents[i]!];
    const ordered = a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id);
    expect(ordered, `${a.id} (${a.createdAt}) before ${b.id} (${b.createdAt})`).toBe(true);
  }
}

const sentSince = (mark: number) => requests.slice(mark);

describe('iterating a list', () => {
  it('for await yields all 250 agents exactly once, newest first, in 3 requests', async () => {
    const mark = requests.length;
    const seen: Agent[] = [];
    for await (const agent of reader.agents.list({ q, pageSize: 100 })) seen.push(agent);

    expect(seen).toHaveLength(TOTAL);
    expect(new Set(seen.map((a) => a.id)).size).toBe(TOTAL);
    expect(new Set(seen.map((a) => a.id))).toEqual(new Set(created.map((a) => a.id)));
    expect(seen.every((a) => a.name.startsWith(q))).toBe(true);
    expectNewestFirst(seen);
    const sent = sentSince(mark);
    expect(sent).toHaveLength(3);
    expect(sent.map((r) => new URL(r, 'http://x').searchParams.get('page'))).toEqual(['1', '2', '3']);
    for (const r of sent) expect(new URL(r, 'http://x').searchParams.get('q')).toBe(q);
  });

  it('.pages() yields 3 pages of 100, 100 and 50', async () => {
    const pages = [];
    for await (const page of reader.agents.list({ q, pageSize: 100 }).pages()) pages.push(page);
    expect(pages.map((p) => p.data.length)).toEqual([100, 100, 50]);
    expect(pages.map((p) => p.pagination.page)).toEqual([1, 2, 3]);
    for (const p of pages) expect(p.pagination).toMatchObject({ pageSize: 100, total: TOTAL, totalPages: 3 });
    const ids = pages.flatMap((p) => p.data.map((a) => a.id));
    expect(new Set(ids).size).toBe(TOTAL);
    for (const p of pages) expect(p.lastResponse.status).toBe(200);
  });

  it('await resolves to the first page only, with one request', async () => {
    const mark = requests.length;
    const page = await reader.agents.list({ q, pageSize: 100 });
    expect(page.data).toHaveLength(100);
    expect(page.pagination).toEqual({ page: 1, pageSize: 100, total: TOTAL, totalPages: 3 });
    expectNewestFirst(page.data);
    expect(sentSince(mark)).toHaveLength(1);
  });

  it('starting at page: 2 iterates from there to the end', async () => {
    const all: Agent[] = [];
    for await (const agent of reader.agents.list({ q, pageSize: 100 })) all.push(agent);
    const mark = requests.length;
    const rest: Agent[] = [];
    for await (const agent of reader.agents.list({ q, pageSize: 100, page: 2 })) rest.push(agent);
    expect(rest.map((a) => a.id)).toEqual(all.slice(100).map((a) => a.id));
    expect(sentSince(mark).map((r) => new URL(r, 'http://x').searchParams.get('page'))).toEqual(['2', '3']);

    const pages = [];
    for await (const page of reader.agents.list({ q, pageSize: 100, page: 2 }).pages()) pages.push(page.data.length);
    expect(pages).toEqual([100, 50]);
    expect((await reader.agents.list({ q, pageSize: 100, page: 3 })).data.map((a) => a.id)).toEqual(all.slice(200).map((a) => a.id));
  });

  it('breaking out of the loop stops fetching pages', async () => {
    const mark = requests.length;
    let n = 0;
    for await (const agent of reader.agents.list({ q, pageSize: 100 })) {
      expect(agent.object).toBe('agent');
      if (++n === 5) break;
    }
    expect(n).toBe(5);
    expect(sentSince(mark)).toHaveLength(1);
  });

  it('the other sort order works through the iterator too', async () => {
    const oldest: Agent[] = [];
    for await (const agent of reader.agents.list({ q, pageSize: 100, sort: 'createdAt' })) oldest.push(agent);
    expect(oldest).toHaveLength(TOTAL);
    expectNewestFirst([...oldest].reverse());
  });

  it('an empty result iterates nothing (one request); a page past the end too', async () => {
    const mark = requests.length;
    const none: Agent[] = [];
    for await (const agent of reader.agents.list({ q: `nothing${token()}`, pageSize: 100 })) none.push(agent);
    expect(none).toEqual([]);
    expect(sentSince(mark)).toHaveLength(1);

    const empty = await reader.agents.list({ q: `nothing${token()}` });
    expect(empty.data).toEqual([]);
    expect(empty.pagination.total).toBe(0);

    const past: Agent[] = [];
    for await (const agent of reader.agents.list({ q, pageSize: 100, page: 4 })) past.push(agent);
    expect(past).toEqual([]);
  });
});
