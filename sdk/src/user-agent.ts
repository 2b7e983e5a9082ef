/**
 * `switchboard-sdk/<version> node/<version>` in Node (and runtimes that pose as it); undefined in
 * browsers, which send their own and refuse to let a page set it. The version is the package's own.
 */
function nodeUserAgent(): string | undefined {
  const proc = (globalThis as { process?: Partial<NodeJS.Process> }).process;
  if (!proc?.versions?.node || typeof proc.getBuiltinModule !== 'function') return undefined;
  const { createRequire } = proc.getBuiltinModule('node:module');
  const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
  return `switchboard-sdk/${version} node/${proc.versions.node}`;
}

export const userAgent = nodeUserAgent();
