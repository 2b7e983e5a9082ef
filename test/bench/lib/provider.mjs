// The test provider (test/support/test-provider-main.ts, run with tsx) as its own process, for the
// scenarios that call a model through the gateway.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const PROVIDER_MAIN = fileURLToPath(new URL('../../support/test-provider-main.ts', import.meta.url));

/** The test provider as its own process (run with tsx), answering every chat request with `tokens` streamed words. */
export async function startProvider(args) {
  const child = spawn(process.execPath, ['--import', 'tsx', PROVIDER_MAIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`the test provider exited with ${code}`)));
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}
