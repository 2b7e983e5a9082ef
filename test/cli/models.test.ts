import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freshAdmin, token } from '../server/helpers.js';
import { startTestProvider, type TestProvider } from '../support/test-provider.js';
import { cli, json, keepSecret, tempHome } from './cli-helpers.js';

let key: string;
let h: ReturnType<typeof tempHome>;
let env: Record<string, string>;
let provider: TestProvider;

beforeAll(async () => {
  key = await freshAdmin();
  keepSecret(key);
  keepSecret('sk-cli-provider-secret-0001');
  h = tempHome();
  env = { ...h.env, SWITCHBOARD_BASE_URL: inject('serverUrl'), SWITCHBOARD_API_KEY: key };
  provider = await startTestProvider({ apiKey: 'sk-cli-provider-secret-0001' });
});
afterAll(async () => {
  h?.cleanup();
  await provider?.close();
});

const run = (args: string[], input?: string) => cli(args, { env, input });

describe('switchboard providers, models and chat', () => {
  let alias: string;

  it('creates a provider (its key read from stdin, never printed) and a priced alias, and lists them', async () => {
    const created = await run(
      [
        'providers',
        'create',
        '--name',
        `cli provider ${token()}`,
        '--kind',
        'openai-compatible',
        '--api-url',
        provider.openaiBaseUrl,
        '--credential',
        '-',
        '--json',
      ],
      'sk-cli-provider-secret-0001\n',
    );
    const providerRow = json<{ id: string; hasCredential: boolean; credentialLast4: string }>(created);
    expect(providerRow).toMatchObject({ hasCredential: true, credentialLast4: '0001' });

    alias = `cli-${token()}`;
    const model = await run([
      'models',
      'create',
      '--alias',
      alias,
      '--provider',
      providerRow.id,
      '--upstream',
      'test-large',
      '--input-price',
      '2000000',
      '--output-price',
      '8000000',
    ]);
    expect(model.code, model.stderr).toBe(0);
    const listed = await run(['models', 'list', '--api', 'chat', '--provider', providerRow.id]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${alias}\\s+chat\\s+test-large\\s+\\$2\\.00\\s+\\$8\\.00`));
  });

  it('chat streams the answer of a message given as an argument, and of one read from stdin, with the token counts on stderr', async () => {
    provider.reply({ text: 'Switchboards connect calls.', usage: { input: 9, output: 4 } });
    const answered = await run(['chat', alias, 'What does a switchboard do?', '--system', 'Be brief.']);
    expect(answered.code, answered.stderr).toBe(0);
    expect(answered.stdout).toBe('Switchboards connect calls.\n');
    expect(answered.stderr).toContain('(9 tokens in, 4 out)');
    const sent = provider.requests.at(-1)!.body as { model: string; messages: unknown[]; stream: boolean };
    expect(sent).toMatchObject({
      model: 'test-large',
      stream: true,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'What does a switchboard do?' },
      ],
    });

    provider.reply({ text: 'From stdin.' });
    const piped = await run(['chat', alias], 'Read me from stdin\n');
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout).toBe('From stdin.\n');
    expect((provider.requests.at(-1)!.body as { messages: { content: string }[] }).messages.at(-1)!.content).toBe('Read me from stdin');
  });

  it('chat names the problem of an unknown alias, with the request id, and exits 1', async () => {
    const refused = await run(['chat', `no-such-${token()}`, 'Hello']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/switchboard: .*does not exist.* \(request req_[0-9a-z]+\)/);
  });
});
