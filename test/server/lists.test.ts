import { beforeAll, describe, expect, it } from 'vitest';
import { rawClient, send, type ApiClient } from '../support/client.js';
import { agentsMatching, createAgent, freshAdmin, sleep, token, type Agent } from './helpers.js';

let key: string;
let api: ApiClient;

/** Five agents sharing one token, created a few milliseconds apart so that createdAt orders them. */
let tok: string;
let agents: Agent[];

beforeAll(async () => {
  key = await freshAdmin();
  api = rawClient({ key });
  tok = token();
  agents = [];
  for (const [i, name] of ['Delta', 'Alpha', 'Charlie', 'Echo', 'Bravo'].entries()) {
    agents.push(await createAgent(api, { name: `${name} ${tok}`, labels: i % 2 === 0 ? [`even-${tok}`] : [`odd-${tok}`] }));
    await sleep(5);
  }
});

const ids = (list: { data: Agent[] }) => list.data.map((a) => a.id);

describe('pagination', () => {
  it('defaults to page 1 of 20, newest first', async () => {
    const res = await send(`/api/v1/agents?q=${tok}`, { key });
    expect(res.status).toBe(200);
    const list = (await res.json()) as { data: Agent[]; pagination: unknown };
    expect(list.pagination).toEqual({ page: 1, pageSize: 20, total: 5, totalPages: 1 });
    expect(ids(list)).toEqual([...agents].reverse().map((a) => a.id));
  });

  it('splits into pages with the right total and totalPages; past the end is empty', async () => {
    const newestFirst = [...agents].reverse().map((a) => a.id);
    const seen: string[] = [];
    for (const page of [1, 2, 3]) {
      const list = await agentsMatching(api, tok, { pageSize: 2, page });
      expect(list.pagination).toEqual({ page, pageSize: 2, total: 5, totalPages: 3 });
      expect(list.data.length).toBe(page === 3 ? 1 : 2);
      seen.push(...ids(list));
    }
    expect(seen).toEqual(newestFirst);
    for (const page of [4, 100]) {
      const past = await agentsMatching(api, tok, { pageSize: 2, page });
      expect(past.data).toEqual([]);
      expect(past.pagination).toEqual({ page, pageSize: 2, total: 5, totalPages: 3 });
    }
  });

  it('reports zero pages for an empty result', async () => {
    const list = await agentsMatching(api, `${tok}-nothing`);
    expect(list.data).toEqual([]);
    expect(list.pagination).toEqual({ page: 1, pageSize: 100, total: 0, totalPages: 0 });
  });
});

describe('sort', () => {
  it('sorts by createdAt both ways, newest first by default', async () => {
    expect(ids(await agentsMatching(api, tok, { sort: 'createdAt' }))).toEqual(agents.map((a) => a.id));
    expect(ids(await agentsMatching(api, tok, { sort: '-createdAt' }))).toEqual([...agents].reverse().map((a) => a.id));
    expect(ids(await agentsMatching(api, tok))).toEqual([...agents].reverse().map((a) => a.id));
  });

  it('sorts by name both ways', async () => {
    // Names differ in their first letter and share their case, so every collation agrees on the order.
    const byName = [...agents].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((a) => a.name);
    const asc = (await agentsMatching(api, tok, { sort: 'name' })).data.map((a) => a.name);
    const desc = (await agentsMatching(api, tok, { sort: '-name' })).data.map((a) => a.name);
    expect(asc).toEqual(byName);
    expect(desc).toEqual([...byName].reverse());
    // A different order from creation order, so a sort that is ignored fails here.
    expect(asc).not.toEqual(agents.map((a) => a.name));
  });

  it('breaks ties by id in the direction of the sort', async () => {
    const sub = token();
    const first = await createAgent(api, { name: `Same ${sub}` });
    await sleep(5);
    const second = await createAgent(api, { name: `Same ${sub}` });
    expect(first.id < second.id).toBe(true);
    expect(ids(await agentsMatching(api, sub, { sort: 'name' }))).toEqual([first.id, second.id]);
    expect(ids(await agentsMatching(api, sub, { sort: '-name' }))).toEqual([second.id, first.id]);
  });

  it('sorts by updatedAt', async () => {
    const sub = token();
    const a = await createAgent(api, { name: `first ${sub}` });
    await sleep(5);
    const b = await createAgent(api, { name: `second ${sub}` });
    await sleep(5);
    expect((await api.PATCH('/api/v1/agents/{agentId}', { params: { path: { agentId: a.id } }, body: { description: 'touched' } })).response.status).toBe(200);
    expect(ids(await agentsMatching(api, sub, { sort: '-updatedAt' }))).toEqual([a.id, b.id]);
    expect(ids(await agentsMatching(api, sub, { sort: 'updatedAt' }))).toEqual([b.id, a.id]);
    expect(ids(await agentsMatching(api, sub, { sort: '-createdAt' }))).toEqual([b.id, a.id]);
  });
});

describe('filters', () => {
  it('q matches name or description, case-insensitively', async () => {
    const sub = token();
    const inName = await createAgent(api, { name: `Widget ${sub.toUpperCase()} maker` });
    const inDescription = await createAgent(api, { name: `other ${token()}`, description: `handles ${sub} requests` });
    await createAgent(api, { name: `unrelated ${token()}` });
    const found = await agentsMatching(api, sub);
    expect(ids(found).sort()).toEqual([inName.id, inDescription.id].sort());
    expect(found.pagination.total).toBe(2);
    expect(ids(await agentsMatching(api, `WIDGET ${sub}`))).toEqual([inName.id]);
  });

  it('treats % and _ in q literally', async () => {
    const sub = token();
    const percent = await createAgent(api, { name: `${sub} 50% off` });
    await createAgent(api, { name: `${sub} 50x off` });
    await createAgent(api, { name: `${sub} 500 off` });
    const underscore = await createAgent(api, { name: `${sub} a_b` });
    await createAgent(api, { name: `${sub} axb` });
    const backslash = await createAgent(api, { name: `${sub} c\\d` });
    await createAgent(api, { name: `${sub} cd` });

    expect(ids(await agentsMatching(api, `${sub} 50%`))).toEqual([percent.id]);
    expect(ids(await agentsMatching(api, `${sub} a_b`))).toEqual([underscore.id]);
    expect(ids(await agentsMatching(api, `${sub} c\\d`))).toEqual([backslash.id]);
    expect((await agentsMatching(api, '%')).data.every((a) => a.name.includes('%') || (a.description ?? '').includes('%'))).toBe(true);
    expect((await agentsMatching(api, sub)).pagination.total).toBe(7);
  });

  it('filters by label', async () => {
    const even = await agentsMatching(api, tok, { label: `even-${tok}` });
    expect(ids(even)).toEqual([agents[4]!, agents[2]!, agents[0]!].map((a) => a.id));
    const odd = await agentsMatching(api, tok, { label: `odd-${tok}` });
    expect(ids(odd)).toEqual([agents[3]!, agents[1]!].map((a) => a.id));
    expect((await agentsMatching(api, tok, { label: `none-${tok}` })).pagination.total).toBe(0);
    // Without q: the label alone selects.
    const byLabelOnly = await api.GET('/api/v1/agents', { params: { query: { label: `odd-${tok}` } } });
    expect(byLabelOnly.data!.pagination.total).toBe(2);
  });

  it('follows label changes', async () => {
    const sub = token();
    const a = await createAgent(api, { name: `relabel ${sub}`, labels: [`old-${sub}`] });
    expect((await api.PATCH('/api/v1/agents/{agentId}', { params: { path: { agentId: a.id } }, body: { labels: [`new-${sub}`] } })).response.status).toBe(200);
    expect((await agentsMatching(api, sub, { label: `old-${sub}` })).pagination.total).toBe(0);
    expect(ids(await agentsMatching(api, sub, { label: `new-${sub}` }))).toEqual([a.id]);
  });

  it('filters by status', async () => {
    const sub = token();
    const active = await createAgent(api, { name: `active ${sub}` });
    const paused = await createAgent(api, { name: `paused ${sub}` });
    const retired = await createAgent(api, { name: `retired ${sub}` });
    expect((await send(`/api/v1/agents/${paused.id}/pause`, { key, method: 'POST' })).status).toBe(200);
    expect((await send(`/api/v1/agents/${retired.id}/retire`, { key, method: 'POST' })).status).toBe(200);
    expect(ids(await agentsMatching(api, sub, { status: 'active' }))).toEqual([active.id]);
    expect(ids(await agentsMatching(api, sub, { status: 'paused' }))).toEqual([paused.id]);
    expect(ids(await agentsMatching(api, sub, { status: 'retired' }))).toEqual([retired.id]);
    expect((await agentsMatching(api, sub)).pagination.total).toBe(3);
  });

  it('filters by createdAfter (inclusive) and createdBefore (exclusive)', async () => {
    const [a0, a1, a2, a3, a4] = agents.map((a) => a.id);
    const after = (t: string) => agentsMatching(api, tok, { createdAfter: t, sort: 'createdAt' }).then(ids);
    const before = (t: string) => agentsMatching(api, tok, { createdBefore: t, sort: 'createdAt' }).then(ids);
    expect(await after(agents[2]!.createdAt)).toEqual([a2, a3, a4]);
    expect(await before(agents[2]!.createdAt)).toEqual([a0, a1]);
    const between = await agentsMatching(api, tok, { createdAfter: agents[1]!.createdAt, createdBefore: agents[3]!.createdAt, sort: 'createdAt' });
    expect(ids(between)).toEqual([a1, a2]);
    expect(await after(new Date(Date.parse(agents[4]!.createdAt) + 1).toISOString())).toEqual([]);
    // Another offset is the same instant.
    const shifted = new Date(Date.parse(agents[2]!.createdAt) + 2 * 3600_000).toISOString().replace('Z', '+02:00');
    expect(await after(shifted)).toEqual([a2, a3, a4]);
  });

  it('combines filters', async () => {
    const list = await agentsMatching(api, `alpha ${tok}`, { label: `odd-${tok}` });
    expect(ids(list)).toEqual([agents[1]!.id]);
    expect((await agentsMatching(api, `alpha ${tok}`, { label: `even-${tok}` })).pagination.total).toBe(0);
  });
});
