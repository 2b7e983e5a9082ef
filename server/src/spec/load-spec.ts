import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export type OpenApiDocument = {
  openapi: string;
  info: { version: string; title: string };
  paths: Record<string, Record<string, unknown>>;
  components?: Record<string, Record<string, unknown>>;
  security?: unknown[];
  /** The requests Switchboard sends (outgoing webhooks), by event type. */
  webhooks?: Record<string, { post: { operationId: string } }>;
};

export type BundledSpec = {
  /** The contract the server enforces: routes, validators, headers; its prose is left out (see withoutProse). */
  document: OpenApiDocument;
  /** The files of the published documents, read when asked for: held in memory, their text weighs some 3 MB. */
  files: { json: string; yaml: string };
};

const PROSE = new Set(['description', 'summary']);
/** Instance values, not schemas or operations: taken as they are, even an object with a `description` field. */
const VALUES = new Set(['default', 'const', 'enum', 'example']);

/**
 * The document without what only people read: descriptions, summaries and schema examples are a
 * third of it, and nothing at run time (routing, validation, error messages) reads them. A
 * `description` that is an object is a property's schema, not prose, and is kept.
 */
function withoutProse(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutProse);
  if (node === null || typeof node !== 'object') return node;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (PROSE.has(key) && typeof value === 'string') continue;
    if (key === 'examples' && Array.isArray(value)) continue;
    kept[key] = VALUES.has(key) || key.startsWith('x-') ? value : withoutProse(value);
  }
  return kept;
}

/** Reads the bundled spec once; it is the source of routes and validators. */
export function loadBundledSpec(): BundledSpec {
  const files = {
    json: require.resolve('@switchboard/openapi/dist/openapi.json'),
    yaml: require.resolve('@switchboard/openapi/dist/openapi.yaml'),
  };
  return { document: withoutProse(JSON.parse(readFileSync(files.json, 'utf8'))) as OpenApiDocument, files };
}
