// `prism mock` on the bundled spec in its own process, and the GET requests it can answer:
// every GET operation with its path parameters filled from their examples.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { freePort } from './processes.mjs';

const require = createRequire(import.meta.url);
const SPEC_YAML = require.resolve('@switchboard/openapi/dist/openapi.yaml');
const SPEC_JSON = require.resolve('@switchboard/openapi/dist/openapi.json');
const PRISM_BIN = require.resolve('@stoplight/prism-cli/dist/index.js');

export const MOCK_KEY = `sbk_${'a'.repeat(43)}`;

const resolveRef = (doc, node) =>
  node?.$ref
    ? node.$ref
        .slice(2)
        .split('/')
        .reduce((at, key) => at[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc)
    : node;

/** Every GET operation: its id and a concrete path (no GET is a runner's, so the application key fits all). */
export function getOperations() {
  const doc = JSON.parse(readFileSync(SPEC_JSON, 'utf8'));
  const out = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    const op = item.get;
    if (!op) continue;
    const parameters = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p) => resolveRef(doc, p));
    const path = template.replace(/\{([^}]+)\}/g, (_, name) => encodeURIComponent(String(parameters.find((p) => p.in === 'path' && p.name === name).example)));
    // Required query parameters (the OAuth callback's state and code) take their examples.
    const query = new URLSearchParams(parameters.filter((p) => p.in === 'query' && p.required).map((p) => [p.name, String(p.example)]));
    out.push({ operationId: op.operationId, path: query.size ? `${path}?${query.toString()}` : path });
  }
  return out;
}

export async function startPrismMock() {
  const port = await freePort();
  const child = spawn(process.execPath, [PRISM_BIN, 'mock', SPEC_YAML, '--host', '127.0.0.1', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`prism mock did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    pid: child.pid,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
