import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, masterKeyFor, type TestDatabase } from '../support/databases.js';
import { freePort, waitFor } from '../support/ports.js';

/**
 * The README's commands, run as a user types them: each shell block in bash at the repository
 * root (`npm start`, `curl`, `jq`, `npx switchboard`), the SDK example with tsx. What differs from
 * a user's machine is configuration the README documents: a free port instead of 3000 (the
 * blocks' `http://127.0.0.1:3000` points there), a fresh database instead of ./data, a temporary
 * home for the CLI's profile.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const DEFAULT_URL = 'http://127.0.0.1:3000';

type Block = { section: string; lang: string; code: string };

function readmeBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  let section = '';
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heading = /^#{2,3} (.+)$/.exec(lines[i]!);
    if (heading) section = heading[1]!;
    const fence = /^```(\w*)/.exec(lines[i]!);
    if (!fence) continue;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    blocks.push({ section, lang: fence[1]!, code: body.join('\n') });
  }
  return blocks;
}

const blocks = readmeBlocks(README).filter((b) => b.lang === 'sh' || b.lang === 'ts');
const blocksOf = (section: string) => blocks.filter((b) => b.section === section);

/** Sections whose blocks this suite runs; every other sh or ts block must be listed with the reason it is not run here. */
const RUN = [
  'Quick start',
  'Your first agent, with curl',
  'Runners, and a run nobody can take',
  'Schedules and triggers',
  'Outgoing webhooks',
  'The command line',
  'People, members and end-users',
  'Threads',
  'Waiting on people',
  'Tasks, goals and projects',
  'The audit log',
  'Costs and budgets',
  'Secrets',
  'Knowledge bases',
  'Installing agents',
  'API versions',
  'Models and the AI gateway',
  'The SDK',
];
const NOT_RUN: Record<string, string> = {
  'A mock server for front-end developers': 'test/contract runs the same Prism mock of the same spec (test/support/prism.ts)',
  'A real agent, in one step':
    'it needs an OpenAI key and calls OpenAI, and no test reaches the internet; test/server/models-from-environment.test.ts starts servers with these variables',
  'The gateway': 'it calls OpenAI and Anthropic; the gateway suites drive the same official clients against test/support/test-provider.ts',
  'A local model with Ollama':
    'it needs Ollama; test/server/models-from-environment.test.ts starts a server with these variables against a test provider on loopback',
};

type Started = { child: ChildProcess; output: () => string; exited: Promise<number | null> };

/** A command in bash, in its own process group (so whatever it leaves in the background can be stopped with it). */
function bash(script: string, env: Record<string, string>): Started {
  const child = spawn('bash', ['-c', script], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => output, exited };
}

async function stopGroup(started: Started) {
  try {
    process.kill(-started.child.pid!, 'SIGTERM');
  } catch {
    return; // already gone
  }
  await Promise.race([started.exited, new Promise((r) => setTimeout(r, 10_000))]);
  try {
    process.kill(-started.child.pid!, 'SIGKILL');
  } catch {
    // stopped in time
  }
}

async function until(check: () => boolean, what: () => string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the README, run as written', () => {
  let home: string;
  let database: TestDatabase;
  let port: number;
  let url: string;
  let env: Record<string, string>;
  let server: Started | undefined;
  let key = '';
  const stateFile = () => join(home, 'readme-shell-state');

  /** One of the README's commands that starts the server (with PORT and DATABASE_URL set), until /readyz answers. */
  async function startServer(command: string) {
    server = bash(command, env);
    await Promise.race([
      waitFor(`${url}/readyz`, 120_000),
      server.exited.then((code) => Promise.reject(new Error(`"${command}" exited with ${code}:\n${server!.output()}`))),
    ]);
  }

  /**
   * Runs one block in bash with the variables earlier blocks set (KEY, AGENT, ...): `set -a` exports
   * every assignment, and the exports are saved for the next block.
   */
  async function runBlock(code: string, timeoutMs = 60_000): Promise<{ code: number | null; output: string; started: Started }> {
    const script = `set -a\n[ -f '${stateFile()}' ] && . '${stateFile()}'\nset -eo pipefail\n${code.replaceAll(DEFAULT_URL, url)}\nexport -p > '${stateFile()}'\n`;
    const started = bash(script, env);
    const timer = setTimeout(() => void stopGroup(started), timeoutMs);
    const exit = await started.exited;
    clearTimeout(timer);
    return { code: exit, output: started.output(), started };
  }

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'switchboard-readme-'));
    database = await createTestDatabase();
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    env = {
      HOME: home,
      XDG_CONFIG_HOME: join(home, 'xdg'),
      PORT: String(port),
      DATABASE_URL: database.url,
      SWITCHBOARD_MASTER_KEY: masterKeyFor(database),
      // The CLI's documented way to name a server that is not on the default port.
      SWITCHBOARD_BASE_URL: url,
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    };
  }, 60_000);

  afterAll(async () => {
    if (server) await stopGroup(server);
    await database?.drop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('has no shell or TypeScript block that this suite neither runs nor explains', () => {
    const untested = blocks.filter((b) => !RUN.includes(b.section) && !(b.section in NOT_RUN)).map((b) => `${b.section}: ${b.code.split('\n')[0]}`);
    expect(untested).toEqual([]);
    for (const section of RUN) expect(blocksOf(section).length, section).toBeGreaterThan(0);
  });

  it('quick start: npm start serves the API with the built-in runner and prints the admin key once', async () => {
    const [quickStart] = blocksOf('Quick start');
    const commands = quickStart!.code
      .split('\n')
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean);
    // `npm ci` made this checkout; `npm test` is what is running this.
    expect(commands).toEqual(['npm ci && npm start', 'npm test']);
    await startServer('npm start');
    await until(
      () => /sbk_[A-Za-z0-9_-]{43,}/.test(server!.output()),
      () => `the admin key in:\n${server!.output()}`,
    );
    expect(server!.output()).toContain('Admin API key (shown once, keep it safe):');
    key = /sbk_[A-Za-z0-9_-]{43,}/.exec(server!.output())![0];
    const root = await fetch(`${url}/`, { redirect: 'manual' });
    expect(root.headers.get('location')).toBe('/api/docs');
  }, 180_000);

  it('your first agent, with curl: an echo agent runs, and its stream replays it to the end', async () => {
    const [block] = blocksOf('Your first agent, with curl');
    expect(block!.code).toContain('KEY=sbk_...');
    const { code, output } = await runBlock(block!.code.replace(/^KEY=sbk_\.\.\..*$/m, `KEY=${key}`));
    expect(code, output).toBe(0);
    expect(output).toContain('"pagination":{');
    expect(output).toMatch(/event: status\n/);
    expect(output).toContain('"status":"succeeded"');
  }, 90_000);

  it('runners: a run whose labels no runner has says why it waits', async () => {
    const [block] = blocksOf('Runners, and a run nobody can take');
    const { code, output } = await runBlock(block!.code);
    expect(code, output).toBe(0);
    const dispatch = JSON.parse(output.slice(output.indexOf('{'))) as Record<string, unknown>;
    expect(JSON.stringify(dispatch)).toContain('"eu"');
  }, 60_000);

  it('schedules and triggers: a schedule is created, and the trigger URL starts a run with its token', async () => {
    const [block] = blocksOf('Schedules and triggers');
    const { code, output } = await runBlock(block!.code);
    expect(code, output).toBe(0);
    expect(output).toContain('"object":"schedule"');
    expect(output).toMatch(/"object":"trigger_invocation".*"runId":"run_/);
  }, 60_000);

  it('outgoing webhooks: the restarted server delivers a signed ping to the local receiver', async () => {
    const [restart, receiver] = blocksOf('Outgoing webhooks');
    expect(restart!.code.trim()).toBe('WEBHOOK_ALLOWED_ADDRESSES=127.0.0.1 npm start');
    await stopGroup(server!);
    await startServer(restart!.code.trim());
    const receiverPort = String(await freePort());
    const { code, output, started } = await runBlock(receiver!.code.replace(/\b4000\b/g, receiverPort));
    try {
      expect(code, output).toBe(0);
      // The receiver prints the delivery's webhook-id and body.
      const delivered = /whmsg_[0-9a-z]{26} \{"id":"evt_[0-9a-z]{26}","type":"webhook_endpoint\.ping"/;
      await until(
        () => delivered.test(started.output()),
        () => `the ping at the receiver:\n${started.output()}`,
      );
    } finally {
      await stopGroup(started);
    }
  }, 180_000);

  it('the command line: npx switchboard logs in, lists, follows a run to its end and calls the API', async () => {
    const [block] = blocksOf('The command line');
    const { code, output } = await runBlock(block!.code, 90_000);
    expect(code, output).toBe(0);
    expect(output).toMatch(/Logged in to .* at http:\/\/127\.0\.0\.1:\d+ with key sbk_/);
    expect(output).toContain('Support bot');
    expect(output).toMatch(/succeeded/);
    expect(output).toMatch(/"pagination": \{/);
    expect(output).not.toContain(key);
  }, 120_000);

  it('people: the first person signs up, the CLI logs her in and acts as her with a personal token', async () => {
    const [block] = blocksOf('People, members and end-users');
    const { code, output } = await runBlock(block!.code, 90_000);
    expect(code, output).toBe(0);
    expect(output).toContain('"email": "ada@example.com"');
    expect(output).toMatch(/as ada@example\.com \(owner\)/);
    expect(output).toMatch(/Created personal token pat_/);
    expect(output).toContain('Support bot');
    expect(output).not.toContain('correct horse battery staple');
  }, 120_000);

  it('threads: a conversation numbered without gaps, read back, and copied up to its first message', async () => {
    const [block] = blocksOf('Threads');
    const { code, output } = await runBlock(block!.code);
    expect(code, output).toBe(0);
    expect(output).toContain('[2]');
    expect(output).toContain('[{"seq":1,"role":"user","text":"Where is my order?"},{"seq":2,"role":"assistant","text":"It ships today."}]');
    expect(output).toContain('{"messageCount":1,"state":{"orderId":"4821"}}');
    // The echo agent's run added its message, and answered nothing to the thread.
    expect(output).toContain('{"status":"idle","messageCount":3}');
  }, 60_000);

  it('waiting on people: a run asks with its run token, waits without a lease, is approved with an edit and resumes', async () => {
    const [block] = blocksOf('Waiting on people');
    const { code, output } = await runBlock(block!.code);
    expect(code, output).toBe(0);
    expect(output).toContain('{"status":"waiting","waitingFor":"approval"}');
    expect(output).toMatch(/^Refund 49\.00 EUR\?$/m);
    expect(output).toMatch(/^approved$/m);
    expect(output).toContain('{"fencingToken":2,"resume":{"amountMinor":2500}}');
  }, 60_000);

  it('tasks: an assigned agent starts, its run checks the task out, comments, hands it to review, and the goal rolls it up', async () => {
    const [block] = blocksOf('Tasks, goals and projects');
    const { code, output } = await runBlock(block!.code);
    expect(code, output).toBe(0);
    expect(output).toContain('{"reason":"assigned","title":"Refund order 10-2291"}');
    expect(output).toContain('{"status":"in_progress","checkedOut":true}');
    expect(output).toMatch(/^run$/m);
    expect(output).toMatch(/^in_review$/m);
    expect(output).toMatch(/in_review\s+medium\s+Refund order 10-2291/);
    expect(output).toMatch(/^done$/m);
    expect(output).toContain('{"total":1,"percentDone":100}');
  }, 60_000);

  it('the audit log: the agents changed above, a chain that verifies, an export downloaded', async () => {
    const [block] = blocksOf('The audit log');
    const { code, output } = await runBlock(block!.code, 60_000);
    expect(code, output).toBe(0);
    expect(output).toMatch(/^\{"action":"agent\.[a-z_]+","actor":"(api_key|personal_token)","resource":"agent_/m);
    expect(output).toMatch(/^\{"valid":true,"checked":[1-9]\d*\}$/m);
    expect(Number(output.trim().split('\n').at(-1))).toBeGreaterThan(0);
  }, 90_000);

  it('costs and budgets: a report grouped by agent, a budget on the whole application, the dashboard counting it', async () => {
    const [block] = blocksOf('Costs and budgets');
    const { code, output } = await runBlock(block!.code, 60_000);
    expect(code, output).toBe(0);
    expect(output).toMatch(/^\{"groupBy":"agent","requests":\d+\}$/m);
    expect(output).toMatch(/^\{"amount":50000000,"state":"(ok|warning)"\}$/m);
    expect(output).toMatch(/^\{"budgets":1,"runners":[1-9]\d*\}$/m);
  }, 90_000);

  it('secrets: set from standard input twice (two versions), delivered to the run of an agent that references it, never shown', async () => {
    const [block] = blocksOf('Secrets');
    const { code, output } = await runBlock(block!.code, 90_000);
    expect(code, output).toBe(0);
    expect(output).toContain('{"name":"CRM_TOKEN","currentVersion":1}');
    expect(output).toContain('{"name":"CRM_TOKEN","currentVersion":2}');
    expect(output).toContain('{"version":2,"purpose":"claim"}');
    expect(output).not.toContain('crm-token-');
  }, 120_000);

  it('knowledge bases: a Markdown document imported with curl and an HTML file with the CLI, found by their words and cited by a range of the text', async () => {
    const [block] = blocksOf('Knowledge bases');
    const { code, output } = await runBlock(block!.code, 90_000);
    expect(code, output).toBe(0);
    expect(output).toContain('{"name":"refunds.md","status":"queued"}');
    expect(output).toMatch(/^doc_\w+\s+warranty\.html\s+indexed\s+1\s+1\s+-$/m);
    const hit = /^1\. \d+\.\d{4} {2}(doc_\w+:\d+-\d+) {2}refunds\.md {2}Refunds > Exceptions\n {3}(.*)$/m.exec(output);
    expect(hit, output).not.toBeNull();
    expect(hit![2]).toMatch(/gift/i);
    // What the citation's range of the document's content says: the passage the hit came from.
    expect(output).toMatch(/Gift cards are never refunded\.\n$/);
  }, 120_000);

  it('installing agents: a package exported, an agent installed in another application following its latest version, a locked input refused', async () => {
    const [block] = blocksOf('Installing agents');
    const { code, output } = await runBlock(block!.code, 90_000);
    expect(code, output).toBe(0);
    expect(output).toContain('{"format":"switchboard.agent/1","name":"triage","signed":true}');
    expect(output).toContain('{"language":"fr","ticket":"My kettle leaks"}');
    expect(output).toContain('{"status":400,"code":"locked-input-field"}');
    expect(output).toContain('{"version":2,"instructions":"Sort the ticket, then draft a reply."}');
  }, 120_000);

  it("versions: the list, the organization pinned to the newest, and the first version's document", async () => {
    const [block] = blocksOf('API versions');
    const { code, output } = await runBlock(block!.code);
    expect(code, output).toBe(0);
    expect(output).toMatch(/"version": "2026-11-01",\s+"status": "supported"/);
    expect(output).toMatch(/"version": "2026-12-05",\s+"status": "supported",\s+"changes": \[\s+"typed-run-events",\s+"finished-stream-no-content"/);
    expect(output).toMatch(/"version": "2026-12-06",\s+"status": "current",\s+"changes": \[\s+"waits-release-leases"/);
    expect(output).toMatch(/^"2026-12-06"\n"2026-11-01"$/m);
  }, 60_000);

  it('models: the catalog is listed, and a provider and an alias are created (the key never shown back)', async () => {
    const [block] = blocksOf('Models and the AI gateway');
    const { code, output } = await runBlock(block!.code);
    expect(code, output).toBe(0);
    expect(output).toContain('"object":"model"');
    expect(output).toContain('"alias":"support-default"');
    expect(output).toContain('"inputMicrosPerMillionTokens":1000000');
    expect(output).not.toContain('sk-ant-...');
  }, 60_000);

  it('the SDK: the example runs against the server', async () => {
    const [example] = blocksOf('The SDK');
    // In the test workspace, so `@switchboard/sdk` resolves as it does for a user who installed it.
    const file = join(ROOT, 'test', `.readme-sdk-${process.pid}.mts`);
    writeFileSync(file, `${example!.code.replaceAll(DEFAULT_URL, url)}\nconsole.log('paused', agent.id);\n`);
    try {
      const { code, output } = await runBlock(`SWITCHBOARD_API_KEY=$KEY npx tsx '${file}'`);
      expect(code, output).toBe(0);
      expect(output).toMatch(/^paused agent_/m);
    } finally {
      rmSync(file, { force: true });
    }
  }, 60_000);
});
