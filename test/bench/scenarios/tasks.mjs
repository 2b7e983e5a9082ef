// 13. tasks: with 10,000 tasks in the application, the latency of a full-text search (`q`, one
// word that 1 in 100 titles have), of a filtered and sorted list, of a bulk change of 100 tasks;
// and 10 runs racing to check out one task, 100 times: exactly one must win each race.
import { randomUUID } from 'node:crypto';
import { apiClient, newAgent, now, request } from '../lib/http.mjs';
import { startSwitchboard } from '../lib/processes.mjs';
import { latencyRounds } from '../lib/stats.mjs';

export const name = 'tasks';
export const description = '10,000 tasks: search, a filtered list, bulk changes of 100; 10 runs racing to check out one task';

/** Words of the titles: a search for one finds 1 in 100 tasks. */
const WORDS = Array.from({ length: 100 }, (_, i) => `w${i.toString(36)}x${(i * 7919).toString(36)}`);
const RACERS = 10;
const CREATE_CONCURRENCY = 32;

export async function run({ settings, log }) {
  const server = await startSwitchboard();
  try {
    const api = apiClient(server.url, server.key);
    const agent = await api.create('/api/v1/agents', { name: 'bench tasks', model: 'echo', labels: ['bench-tasks'] });
    const pool = newAgent();
    const send = async (method, path, token, body, expected) => {
      const reply = await request(`${server.url}${path}`, {
        method,
        agent: pool,
        body,
        headers: { Authorization: `Bearer ${token}`, ...(method === 'POST' ? { 'Idempotency-Key': randomUUID() } : {}) },
      });
      if (!expected.includes(reply.status)) throw new Error(`${method} ${path} answered ${reply.status}: ${reply.text.slice(0, 300)}`);
      return reply;
    };

    const seedStarted = now();
    const ids = [];
    for (let next = 0; next < settings.tasks;) {
      const batch = Array.from({ length: Math.min(CREATE_CONCURRENCY, settings.tasks - next) }, (_, k) => next + k);
      next += batch.length;
      const made = await Promise.all(
        batch.map((i) =>
          send(
            'POST',
            '/api/v1/tasks',
            server.key,
            {
              title: `Refund order ${i} ${WORDS[i % WORDS.length]}`,
              description: `Customer ${i} sent photos of parcel ${i}.`,
              status: i % 2 ? 'todo' : 'backlog',
              priority: ['urgent', 'high', 'medium', 'low'][i % 4],
              labels: [`l${i % 10}`],
              ...(i % 3 === 0 ? { assignee: { type: 'agent', id: agent.id } } : {}),
            },
            [201],
          ),
        ),
      );
      ids.push(...made.map((r) => r.json().id));
    }
    const seedSeconds = (now() - seedStarted) / 1000;
    log(`    seeded ${settings.tasks} tasks in ${seedSeconds.toFixed(1)} s`);

    let sample = 0;
    const timed = async (fn) => {
      const t0 = now();
      await fn();
      const ms = now() - t0;
      return { fromAnswer: ms, fromSend: ms };
    };
    const search = await latencyRounds({
      rounds: settings.rounds,
      count: settings.taskSamples,
      log,
      once: () =>
        timed(async () => {
          const reply = await send('GET', `/api/v1/tasks?q=${WORDS[sample++ % WORDS.length]}&pageSize=20`, server.key, undefined, [200]);
          if (reply.json().pagination.total !== Math.ceil(settings.tasks / WORDS.length) && settings.tasks >= WORDS.length * 10) {
            throw new Error(`search found ${reply.json().pagination.total}`);
          }
        }),
    });
    const filtered = await latencyRounds({
      rounds: settings.rounds,
      count: settings.taskSamples,
      log,
      once: () =>
        timed(() =>
          send('GET', `/api/v1/tasks?status=todo,in_progress&assignee=${agent.id}&label=l${sample++ % 10}&sort=priority`, server.key, undefined, [200]),
        ),
    });
    const bulk = await latencyRounds({
      rounds: settings.rounds,
      count: Math.max(5, Math.floor(settings.taskSamples / 10)),
      log,
      once: () =>
        timed(() => {
          const start = (sample++ * 100) % (ids.length - 100);
          const priority = ['urgent', 'high', 'medium', 'low'][sample % 4];
          return send(
            'POST',
            '/api/v1/tasks/bulk',
            server.key,
            { changes: ids.slice(start, start + 100).map((taskId) => ({ taskId, priority, addLabels: ['bulk'] })) },
            [200],
          );
        }),
    });

    // Races: 10 claimed runs (one runner each) check out one task at once.
    const runners = [];
    for (let i = 0; i < RACERS; i++) runners.push(await api.create('/api/v1/runners', { name: `bench-racer-${i}`, labels: ['bench-tasks'] }));
    let races = 0;
    let wrongRaces = 0;
    const race = await latencyRounds({
      rounds: settings.rounds,
      count: settings.races,
      log,
      once: async () => {
        const claims = [];
        for (const runner of runners) {
          await send('POST', '/api/v1/runs', server.key, { agentId: agent.id }, [201]);
          claims.push((await send('POST', `/api/v1/runners/${runner.id}/claims?wait=5`, runner.token, undefined, [200])).json());
        }
        const task = (await send('POST', '/api/v1/tasks', server.key, { title: `race ${races}`, status: 'todo' }, [201])).json();
        const t0 = now();
        const replies = await Promise.all(claims.map((c) => send('POST', `/api/v1/tasks/${task.id}/checkout`, c.runToken.token, undefined, [200, 409])));
        const ms = now() - t0;
        races++;
        if (replies.filter((r) => r.status === 200).length !== 1) wrongRaces++;
        await Promise.all(
          claims.map((c, i) =>
            send(
              'POST',
              `/api/v1/leases/${c.lease.id}/complete`,
              runners[i].token,
              { fencingToken: c.lease.fencingToken, status: 'succeeded', output: {} },
              [200],
            ),
          ),
        );
        return { fromAnswer: ms, fromSend: ms };
      },
    });
    const released = (await send('GET', '/api/v1/tasks?status=todo&q=race&pageSize=1', server.key, undefined, [200])).json().pagination.total;

    return {
      rows: [
        { measure: `p50 search (q) over ${settings.tasks} tasks`, unit: 'ms', ...search.p50, target: '< 20 ms', met: search.p50.median < 20 },
        { measure: `p99 search (q) over ${settings.tasks} tasks`, unit: 'ms', ...search.p99, target: '< 100 ms', met: search.p99.median < 100 },
        { measure: 'p50 filtered, sorted list', unit: 'ms', ...filtered.p50, target: '< 20 ms', met: filtered.p50.median < 20 },
        { measure: 'p50 bulk change of 100 tasks', unit: 'ms', ...bulk.p50, target: '< 300 ms', met: bulk.p50.median < 300 },
        { measure: `p50 ${RACERS} runs racing to check out a task`, unit: 'ms', ...race.p50, target: '1 winner per race', met: wrongRaces === 0 },
      ],
      details: { seedSeconds, races, wrongRaces, releasedByRunEnds: released, serverErrors: server.errors().length },
    };
  } finally {
    await server.stop();
  }
}
