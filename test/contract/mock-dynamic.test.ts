import { describe, expect, inject, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { extractOperations, loadBundledSpec } from '@switchboard/server';

const document = loadBundledSpec().document;
const SPEC_ID = 'switchboard.json';
// An independent Ajv (not the server's validators) over the bundled spec; OpenAPI's own keywords and formats are not JSON Schema's.
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
for (const format of ['int32', 'int64', 'binary']) ajv.addFormat(format, true);
ajv.addSchema(document, SPEC_ID);

const getOperations = extractOperations(document).filter((op) => op.method === 'get');

/** A concrete path: each path parameter, and each required query parameter, is its documented example. */
function pathOf(op: (typeof getOperations)[number]): string {
  const item = (document.paths as Record<string, { parameters?: unknown[]; get: { parameters?: unknown[] } }>)[op.path]!;
  const parameters = [...(item.parameters ?? []), ...(item.get.parameters ?? [])].map((p) => {
    const ref = (p as { $ref?: string }).$ref;
    return (
      ref
        ? ref
            .slice(2)
            .split('/')
            .reduce<unknown>((at, k) => (at as Record<string, unknown>)[k], document)
        : p
    ) as { in: string; name: string; required?: boolean; example: unknown };
  });
  const path = op.path.replace(/\{([^}]+)\}/g, (_, name: string) =>
    encodeURIComponent(String(parameters.find((p) => p.in === 'path' && p.name === name)!.example)),
  );
  const query = new URLSearchParams(parameters.filter((p) => p.in === 'query' && p.required).map((p) => [p.name, String(p.example)]));
  return query.size ? `${path}?${query.toString()}` : path;
}

/** Prism's dynamic mode generates responses from the schemas: they must be valid against those schemas. */
describe('the Prism mock with Prefer: dynamic=true', () => {
  it('covers every GET operation', () => {
    expect(getOperations.length).toBeGreaterThan(30);
  });

  it.each(getOperations.map((op) => [op.operationId, op] as const))('%s answers a response valid against its schema', async (_, op) => {
    // A redirect is the answer: followed, it would leave the machine (a connect link's goes to a provider).
    const res = await fetch(`${inject('mockUrl')}${pathOf(op)}`, {
      redirect: 'manual',
      headers: { Authorization: `Bearer sbk_${'a'.repeat(43)}`, Prefer: 'dynamic=true' },
    });
    if (res.status === 302) {
      expect(res.headers.get('location')).toBeTruthy();
      return;
    }
    const text = await res.text();
    expect(res.status, text.slice(0, 500)).toBe(200);
    const pointer = op.responses['200']?.schemaPointers['application/json'];
    if (!pointer) return;
    const validate = ajv.compile({ $ref: `${SPEC_ID}#${pointer}` });
    const valid = validate(JSON.parse(text));
    expect(validate.errors ?? [], text.slice(0, 500)).toEqual([]);
    expect(valid).toBe(true);
  });
});
