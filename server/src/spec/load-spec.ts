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

export type BundledSpec = { document: OpenApiDocument; json: string; yaml: string };

/** Reads the bundled spec once; it is the source of routes, validators and the served documents. */
export function loadBundledSpec(): BundledSpec {
  const jsonPath = require.resolve('@switchboard/openapi/dist/openapi.json');
  const yamlPath = require.resolve('@switchboard/openapi/dist/openapi.yaml');
  const json = readFileSync(jsonPath, 'utf8');
  return { document: JSON.parse(json) as OpenApiDocument, json, yaml: readFileSync(yamlPath, 'utf8') };
}
