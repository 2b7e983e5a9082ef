import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { builtinModules, createRequire } from 'node:module';
import { dirname, extname, join, normalize, relative, resolve, sep } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chromiumAvailable, launchChromium } from '../support/chromium.js';
import { freshAdmin } from '../server/helpers.js';

const require = createRequire(import.meta.url);
const SDK_DIR = dirname(require.resolve('@switchboard/sdk/package.json'));
const DIST = join(SDK_DIR, 'dist');
const sdkPackage = JSON.parse(readFileSync(join(SDK_DIR, 'package.json'), 'utf8')) as {
  exports: Record<string, Record<string, string>>;
  browser?: string;
  dependencies: Record<string, string>;
};

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, m.split('/')[0]!]));
const isBuiltin = (specifier: string) => specifier.startsWith('node:') || BUILTINS.has(specifier) || BUILTINS.has(specifier.split('/')[0]!);

/** `import ... from 'x'`, `import 'x'`, `export ... from 'x'` and `import('x')` specifiers of an ES module (not the word in prose: "the export's file"). */
function esmSpecifiers(source: string): string[] {
  const out: string[] = [];
  const patterns = [/(?:^|[;\s])(?:import|export)(?=[\s{*])\s*(?:[\w*{}\s,$]*?\s*from\s*)?['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const pattern of patterns) for (const m of source.matchAll(pattern)) out.push(m[1]!);
  return out;
}

/** Walks the relative imports of an ES module graph; returns every module and what each imports from outside. */
function importGraph(entry: string): { modules: string[]; external: Map<string, string[]> } {
  const modules: string[] = [];
  const external = new Map<string, string[]>();
  const visit = (file: string) => {
    if (modules.includes(file)) return;
    modules.push(file);
    for (const specifier of esmSpecifiers(readFileSync(file, 'utf8'))) {
      if (specifier.startsWith('./') || specifier.startsWith('../')) {
        const target = resolve(dirname(file), specifier);
        if (!existsSync(target)) throw new Error(`${relative(DIST, file)} imports ${specifier}, which does not exist`);
        visit(target);
      } else {
        external.set(relative(DIST, file), [...(external.get(relative(DIST, file)) ?? []), specifier]);
      }
    }
  };
  visit(entry);
  return { modules, external };
}

const externalSpecifiers = (graph: ReturnType<typeof importGraph>) => [...new Set([...graph.external.values()].flat())];

/** `require('x')` specifiers of a CommonJS module. */
const cjsSpecifiers = (source: string) => [...source.matchAll(/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!);

/**
 * One ES module made of a CommonJS package and what it requires (a tiny bundler), so a page can
 * import it through an import map. Throws on a Node built-in.
 */
function bundleCommonJs(entry: string, names: string[]): string {
  const ids = new Map<string, number>();
  const defs: string[] = [];
  const visit = (file: string): number => {
    if (ids.has(file)) return ids.get(file)!;
    const id = ids.size;
    ids.set(file, id);
    const source = readFileSync(file, 'utf8');
    const req = createRequire(file);
    const map: Record<string, number> = {};
    for (const specifier of cjsSpecifiers(source)) {
      if (isBuiltin(specifier)) throw new Error(`${file} requires the Node built-in ${specifier}`);
      map[specifier] = visit(req.resolve(specifier));
    }
    defs[id] = `${id}: [function (module, exports, require) {\n${source.replace(/^\/\/# sourceMappingURL=.*$/m, '')}\n}, ${JSON.stringify(map)}]`;
    return id;
  };
  visit(entry);
  return [
    `const defs = {\n${defs.join(',\n')}\n};`,
    'const cache = {};',
    'function load(id) {',
    '  if (cache[id]) return cache[id].exports;',
    '  const module = (cache[id] = { exports: {} });',
    '  const [fn, map] = defs[id];',
    '  fn.call(undefined, module, module.exports, (name) => { if (!(name in map)) throw new Error("cannot require " + name); return load(map[name]); });',
    '  return module.exports;',
    '}',
    'const main = load(0);',
    'export default main;',
    `export const { ${names.join(', ')} } = main;`,
  ].join('\n');
}

describe('the browser entry (dist/index.js), statically', () => {
  it('is what ./browser, the default condition of "." and the "browser" field point to', () => {
    expect(sdkPackage.exports['./browser']!.default).toBe('./dist/index.js');
    expect(sdkPackage.exports['.']!.default).toBe('./dist/index.js');
    expect(sdkPackage.exports['.']!.node).toBe('./dist/node.js');
    expect(sdkPackage.browser).toBe('dist/index.js');
  });

  it('imports no Node built-in anywhere in its module graph', () => {
    const graph = importGraph(join(DIST, 'index.js'));
    expect(graph.modules.length).toBeGreaterThan(5);
    expect(graph.modules.map((m) => relative(DIST, m))).toEqual(expect.arrayContaining(['index.js', 'client.js', 'transport.js', 'stream.js', 'webhooks.js']));
    const offenders = [...graph.external.entries()].flatMap(([file, specs]) => specs.filter(isBuiltin).map((s) => `${file} -> ${s}`));
    expect(offenders).toEqual([]);
    // Its only packages are these two, both dependencies of the SDK.
    expect(externalSpecifiers(graph).sort()).toEqual(['eventsource-parser', 'standardwebhooks']);
    for (const dep of externalSpecifiers(graph)) expect(sdkPackage.dependencies).toHaveProperty(dep);
    // Nor does the runner (Node only) leak into it.
    expect(
      graph.modules.map((m) => relative(DIST, m)).filter((m) => m.startsWith(`runner${sep}`) || m === 'node.js' || m === 'cli.js' || m.startsWith(`cli${sep}`)),
    ).toEqual([]);
  });

  it('the same check finds the Node built-ins of dist/node.js (so it can fail)', () => {
    const graph = importGraph(join(DIST, 'node.js'));
    const builtins = externalSpecifiers(graph).filter(isBuiltin);
    expect(builtins).toEqual(expect.arrayContaining(['node:os', 'node:http', 'node:https']));
  });

  it('its packages do not reach Node built-ins either', () => {
    const esm = importGraph(require.resolve('eventsource-parser'));
    expect(externalSpecifiers(esm)).toEqual([]);
    expect(() => bundleCommonJs(require.resolve('standardwebhooks'), [])).not.toThrow();
  });
});

/** A static server on loopback for the SDK's dist and its two dependencies, with a page that maps them. */
async function staticServer(): Promise<{ url: string; close(): Promise<void> }> {
  const requireFromSdk = createRequire(join(SDK_DIR, 'package.json'));
  const parserDir = dirname(requireFromSdk.resolve('eventsource-parser/package.json'));
  const webhooksEntry = requireFromSdk.resolve('standardwebhooks');
  const webhooksBundle = bundleCommonJs(webhooksEntry, Object.keys(requireFromSdk('standardwebhooks') as object));
  const importMap = { imports: { 'eventsource-parser': '/vendor/eventsource-parser/dist/index.js', standardwebhooks: '/vendor/standardwebhooks.js' } };
  const page = `<!doctype html><html><head><meta charset="utf-8"><script type="importmap">${JSON.stringify(importMap)}</script></head><body>SDK test page</body></html>`;
  const types: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.map': 'application/json', '.html': 'text/html; charset=utf-8' };

  const serveFile = (root: string, rel: string, res: import('node:http').ServerResponse) => {
    const file = normalize(join(root, rel));
    if (!file.startsWith(root + sep) || !existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/') return res.writeHead(200, { 'Content-Type': types['.html']! }).end(page);
    if (path === '/vendor/standardwebhooks.js') return res.writeHead(200, { 'Content-Type': types['.js']! }).end(webhooksBundle);
    if (path.startsWith('/vendor/eventsource-parser/')) return serveFile(parserDir, path.slice('/vendor/eventsource-parser/'.length), res);
    if (path.startsWith('/sdk/')) return serveFile(DIST, path.slice('/sdk/'.length), res);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

describe.skipIf(!chromiumAvailable)('the browser entry in headless Chromium', () => {
  let browser: Browser;
  let site: Awaited<ReturnType<typeof staticServer>>;

  beforeAll(async () => {
    site = await staticServer();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('loads dist/index.js from another origin and calls the API with CORS', async () => {
    const key = await freshAdmin();
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
    await page.goto(`${site.url}/`);

    // Written as a string: the test file is transformed by Vite, the page's code must not be.
    const script = `(async ({ serverUrl, key }) => {
      const sdk = await import('/sdk/index.js');
      const anonymous = new sdk.Switchboard({ baseUrl: serverUrl });
      const health = await anonymous.system.health();
      const sb = new sdk.Switchboard({ baseUrl: serverUrl, apiKey: key });
      const page = await sb.agents.list({ pageSize: 1 });
      let notFound;
      try {
        await sb.agents.get('agent_01jd4x7p2kf8q6v3b9m5t0s1ab');
      } catch (err) {
        notFound = { name: err.name, isSwitchboardError: err instanceof sdk.SwitchboardError, status: err.status, code: err.code, requestId: err.requestId };
      }
      return {
        origin: location.origin,
        health: JSON.parse(JSON.stringify(health)),
        healthRequestId: health.lastResponse.requestId,
        listStatus: page.lastResponse.status,
        listRequestId: page.lastResponse.requestId,
        pageSize: page.pagination.pageSize,
        notFound,
        exports: Object.keys(sdk).sort(),
        verifyWebhook: typeof sdk.verifyWebhook,
        work: typeof sb.runners.work,
      };
    })(${JSON.stringify({ serverUrl: inject('serverUrl'), key })})`;
    const result = await page.evaluate<{
      origin: string;
      health: unknown;
      healthRequestId: string | undefined;
      listStatus: number;
      listRequestId: string | undefined;
      pageSize: number;
      notFound: unknown;
      exports: string[];
      verifyWebhook: string;
      work: string;
    }>(script);
    await page.close();

    expect(pageErrors).toEqual([]);
    expect(failed).toEqual([]);
    expect(result.origin).not.toBe(new URL(inject('serverUrl')).origin);
    expect(result.health).toEqual({ status: 'ok' });
    // Request-Id is readable across origins (exposed by CORS).
    expect(result.healthRequestId).toMatch(/^req_/);
    expect(result.listStatus).toBe(200);
    expect(result.listRequestId).toMatch(/^req_/);
    expect(result.pageSize).toBe(1);
    expect(result.notFound).toEqual({
      name: 'NotFoundError',
      isSwitchboardError: true,
      status: 404,
      code: 'not-found',
      requestId: expect.stringMatching(/^req_/),
    });
    expect(result.exports).toEqual(expect.arrayContaining(['Switchboard', 'SwitchboardError', 'NotFoundError', 'verifyWebhook', 'PageList']));
    expect(result.verifyWebhook).toBe('function');
    expect(result.work).toBe('undefined');
  });
});
