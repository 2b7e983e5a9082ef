import type { BundledSpec } from '../../spec/load-spec.js';
import { defineHandlers } from '../../http/handler-types.js';
import { ProblemError, problemTypes, type ProblemCode } from '../../http/problems.js';
import { DOCS_PAGE, docsAsset } from './docs.js';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function problemPage(code: ProblemCode): string {
  const p = problemTypes[code];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(p.title)} (${p.status})</title></head>
<body>
<h1>${escapeHtml(p.title)}</h1>
<p><strong>HTTP ${p.status}</strong>, problem code <code>${code}</code></p>
<p>${escapeHtml(p.description)}</p>
<p>Every error of the Switchboard API is an RFC 9457 <code>application/problem+json</code> body with <code>type</code>, <code>title</code>, <code>status</code>, <code>detail</code>, <code>instance</code>, <code>code</code> and <code>requestId</code>.</p>
</body></html>
`;
}

export function systemHandlers(spec: BundledSpec, checkDatabase: () => Promise<void>) {
  return defineHandlers({
    // A browser opened on the server's address lands on the API reference.
    getRoot: async () => ({ status: 302, body: undefined, headers: { Location: '/api/docs' } }),

    getHealth: async () => ({ status: 200, body: { status: 'ok' } }),

    getReadiness: async () => {
      try {
        await checkDatabase();
      } catch {
        throw new ProblemError('not-ready', 'The database is not reachable.');
      }
      return { status: 200, body: { status: 'ok', database: 'ok' } };
    },

    // Served with this server as the first entry of `servers`, so "Try it out" calls the server it came from.
    getOpenApiJson: async ({ ctx }) => ({
      status: 200,
      body: { ...spec.document, servers: [{ url: `${ctx.protocol}://${ctx.host}`, description: 'This server' }] } as never,
    }),

    getOpenApiYaml: async () => ({ status: 200, body: spec.yaml, contentType: 'application/yaml; charset=utf-8' }),

    getApiDocs: async () => ({ status: 200, body: DOCS_PAGE, contentType: 'text/html; charset=utf-8' }),

    getApiDocsAsset: async ({ path }) => {
      const asset = docsAsset(path.asset);
      if (!asset) throw new ProblemError('not-found', `No documentation asset ${path.asset}.`);
      return { status: 200, body: asset.body, contentType: asset.contentType, headers: { 'Cache-Control': 'public, max-age=3600' } };
    },

    getProblemType: async ({ path }) => {
      // Own properties only: `constructor` or `toString` is no problem type.
      if (!Object.hasOwn(problemTypes, path.code)) throw new ProblemError('not-found', `No problem type ${path.code}.`);
      return { status: 200, body: problemPage(path.code as ProblemCode), contentType: 'text/html; charset=utf-8' };
    },
  });
}
