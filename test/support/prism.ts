import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { freePort, waitFor } from './ports.js';

const require = createRequire(import.meta.url);
export const SPEC_PATH = require.resolve('@switchboard/openapi/dist/openapi.yaml');
const PRISM_BIN = require.resolve('@stoplight/prism-cli/dist/index.js');

export type PrismProcess = { url: string; stop(): Promise<void>; output: () => string };

/** `prism mock` on the bundled spec, or `prism proxy` (with or without --errors) in front of a real server. */
export async function startPrism(mode: { kind: 'mock' } | { kind: 'proxy'; upstream: string; errors: boolean }): Promise<PrismProcess> {
  const port = await freePort();
  const args =
    mode.kind === 'mock'
      ? ['mock', SPEC_PATH, '--host', '127.0.0.1', '--port', String(port), '--cors']
      : ['proxy', SPEC_PATH, mode.upstream, ...(mode.errors ? ['--errors'] : []), '--host', '127.0.0.1', '--port', String(port)];
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [PRISM_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  // Prism reads the whole spec before it listens: a minute or more on a busy two-core machine.
  await waitFor(`${url}/healthz`, 180_000, (r) => r.status === 200).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${output}`);
  });
  return {
    url,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
