import { Switchboard, type Run } from '@switchboard/sdk';
import { startBuiltinRunner, type Worker } from '@switchboard/sdk/runner';
import { startInProcessServer, type InProcessServer } from '../support/in-process-server.js';
import { until } from '../sdk/helpers.js';
import { startTestProvider, type RecordedRequest, type TestProvider } from '../support/test-provider.js';

/**
 * The `llm` runtime end to end, on the system clock: a server in this process (its own database),
 * the test provider behind the alias `assistant`, and a built-in runner that takes the runs of
 * agents labelled `tag`. Kept out of run-helpers.ts, which most files import: this loads the server.
 */
export type LlmRuntime = { running: InProcessServer; provider: TestProvider; sb: Switchboard; runner: Worker; tag: string; stop(): Promise<void> };

/** `name` names the runner and, with the process id, its label; `env` is the server's configuration. */
export async function startLlmRuntime(name: string, env: Record<string, string> = {}): Promise<LlmRuntime> {
  const running = await startInProcessServer({ now: () => Date.now() }, { MODEL_PROVIDER_ALLOW_PRIVATE_ADDRESSES: 'true', ...env });
  const provider = await startTestProvider();
  const sb = new Switchboard({ baseUrl: running.baseUrl, apiKey: running.adminKey });
  const created = await sb.modelProviders.create({ name: 'Test provider', kind: 'openai-compatible', baseUrl: provider.openaiBaseUrl });
  await sb.models.create({ alias: 'assistant', providerId: created.id, upstreamModel: 'test-large' });
  const tag = `${name}-${String(process.pid)}`;
  const registered = await sb.runners.register({ name, labels: [tag] });
  const runner = startBuiltinRunner({ baseUrl: running.baseUrl, runnerId: registered.id, token: registered.token, onError: () => undefined });
  return {
    running,
    provider,
    sb,
    runner,
    tag,
    async stop() {
      await runner.stop(2000);
      await running.stop();
      await provider.close();
    },
  };
}

type Message = { role: string; content?: unknown; tool_call_id?: string };

/** The result the model was given for a tool call, parsed. */
export const resultOf = (request: RecordedRequest, callId: string) => {
  const message = (request.body as { messages: Message[] }).messages.find((m) => m.role === 'tool' && m.tool_call_id === callId);
  return message ? (JSON.parse(message.content as string) as Record<string, any>) : undefined;
};

/** The last chat completion the provider was asked for. */
export const lastChatRequest = (provider: TestProvider) => provider.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)!;

/** The run once it has ended. */
export async function settledRun(sb: Switchboard, runId: string): Promise<Run> {
  const terminal = ['succeeded', 'failed', 'cancelled', 'timed_out', 'expired'];
  await until(async () => terminal.includes((await sb.runs.get(runId)).status), `run ${runId} to end`, 300, 50);
  return sb.runs.get(runId);
}
