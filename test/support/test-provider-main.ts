/**
 * The test provider as a process, for the benchmark: every chat request (OpenAI or Anthropic) gets
 * the same streamed answer of N words. Prints the provider's URL on stdout, then serves until
 * SIGTERM or SIGINT.
 *
 *   npx tsx test/support/test-provider-main.ts [--tokens 64] [--chunk-delay-ms 0] [--first-byte-ms 0]
 */
import { parseArgs } from 'node:util';
import { startTestProvider } from './test-provider.js';

const { values } = parseArgs({
  options: { tokens: { type: 'string', default: '64' }, 'chunk-delay-ms': { type: 'string', default: '0' }, 'first-byte-ms': { type: 'string', default: '0' } },
});
const tokens = Number(values.tokens);
const chunkDelayMs = Number(values['chunk-delay-ms']);
const delayMs = Number(values['first-byte-ms']);
if (!Number.isInteger(tokens) || tokens < 1 || ![chunkDelayMs, delayMs].every((ms) => Number.isFinite(ms) && ms >= 0)) {
  process.stderr.write('usage: test-provider-main.ts [--tokens N>=1] [--chunk-delay-ms MS>=0] [--first-byte-ms MS>=0]\n');
  process.exit(2);
}

const text = Array.from({ length: tokens }, (_, i) => (i === 0 ? 'token0' : ` token${String(i)}`)).join('');
const provider = await startTestProvider({ defaultReply: { text, usage: { input: 12, output: tokens }, chunkDelayMs, delayMs } });
process.stdout.write(`${provider.url}\n`);

const stop = () => {
  void provider.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
