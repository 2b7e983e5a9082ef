import { readFileSync } from 'node:fs';
import type { MasterKeys } from '../../security/rewrap.js';
import { readFile } from 'node:fs/promises';
import type { Context } from 'koa';
import { stringify } from 'yaml';
import type { BundledSpec, OpenApiDocument } from '../../spec/load-spec.js';
import type { Versioning } from '../../versions/versioning.js';
import { defineHandlers } from '../handler-types.js';
import { ProblemError, problemTypes, type ProblemCode } from '../../problems/problems.js';
import { notModified, weakEtagOf } from './conditional.js';
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

/** Documents are revalidated before each use; Swagger UI's assets (not versioned by name) are kept for a day. */
const REVALIDATE = 'no-cache';
const ASSET_MAX_AGE = 'public, max-age=86400';

/** The same document is answered 304 while the client's copy is current. */
async function cached<T>(ctx: Context, etag: string, cacheControl: string, body: () => T | Promise<T>) {
  const headers = { ETag: etag, 'Cache-Control': cacheControl };
  if (notModified(ctx, etag)) return { status: 304 as const, body: undefined, headers };
  return { status: 200 as const, body: await body(), headers };
}

/** The published document as one version sees it (the newest as it was bundled). */
const publishedDocument = (spec: BundledSpec, versioning: Versioning, version: string): Promise<OpenApiDocument> =>
  versioning.documentAt(version, async () => JSON.parse(await readFile(spec.files.json, 'utf8')) as OpenApiDocument);

/**
 * `masterKeys`: what the re-wrapping pass last found, when previous master keys are configured;
 * `draining`: whether this replica is stopping (its readiness fails first, so balancers move on).
 */
export function systemHandlers(
  spec: BundledSpec,
  versioning: Versioning,
  checkDatabase: () => Promise<void>,
  masterKeys: () => MasterKeys | undefined,
  draining: () => boolean = () => false,
) {
  const versionAsked = (version: string | undefined) => (version === undefined ? versioning.newest : versioning.check(version, 'version'));
  // The published files do not change while the server runs: hashed once, read again only to be sent.
  const yamlEtag = weakEtagOf(readFileSync(spec.files.yaml));
  // The JSON document served is the bundled one with this server's URL in `servers`: its tag is
  // derived from those two, not hashed anew from the whole document on every request.
  const bundledJsonEtag = weakEtagOf(readFileSync(spec.files.json));
  const pageEtag = weakEtagOf(DOCS_PAGE);
  const assetEtags = new WeakMap<object, string>();
  return defineHandlers({
    // A browser opened on the server's address lands on the API reference.
    getRoot: async () => ({ status: 302, body: undefined, headers: { Location: '/api/docs' } }),

    getHealth: async () => ({ status: 200, body: { status: 'ok' } }),

    getReadiness: async () => {
      if (draining()) throw new ProblemError('not-ready', 'This server is shutting down: it finishes what it has and takes nothing new.');
      try {
        await checkDatabase();
      } catch {
        throw new ProblemError('not-ready', 'The database is not reachable.');
      }
      const keys = masterKeys();
      return { status: 200, body: { status: 'ok', database: 'ok', ...(keys ? { masterKeys: keys } : {}) } };
    },

    // Served with this server as the first entry of `servers`, so "Try it out" calls the server it came from.
    getOpenApiJson: async ({ ctx, query }) => {
      const url = `${ctx.protocol}://${ctx.host}`;
      const version = versionAsked(query.version);
      return cached(ctx, weakEtagOf(`${bundledJsonEtag} ${version} ${url}`), REVALIDATE, async () => {
        const published = await publishedDocument(spec, versioning, version);
        return { ...published, servers: [{ url, description: 'This server' }] } as never;
      });
    },

    getOpenApiYaml: async ({ ctx, query }) => {
      const version = versionAsked(query.version);
      const yaml =
        version === versioning.newest
          ? await cached(ctx, yamlEtag, REVALIDATE, () => readFile(spec.files.yaml, 'utf8'))
          : await cached(ctx, weakEtagOf(`${yamlEtag} ${version}`), REVALIDATE, async () => stringify(await publishedDocument(spec, versioning, version)));
      return { ...yaml, contentType: 'application/yaml; charset=utf-8' };
    },

    getApiDocs: async ({ ctx }) => ({ ...(await cached(ctx, pageEtag, REVALIDATE, () => DOCS_PAGE)), contentType: 'text/html; charset=utf-8' }),

    getApiDocsAsset: async ({ ctx, path }) => {
      const asset = docsAsset(path.asset);
      if (!asset) throw new ProblemError('not-found', `No documentation asset ${path.asset}.`);
      let etag = assetEtags.get(asset);
      if (!etag) assetEtags.set(asset, (etag = weakEtagOf(asset.body)));
      return { ...(await cached(ctx, etag, ASSET_MAX_AGE, () => asset.body)), contentType: asset.contentType };
    },

    getProblemType: async ({ path }) => {
      // Own properties only: `constructor` or `toString` is no problem type.
      if (!Object.hasOwn(problemTypes, path.code)) throw new ProblemError('not-found', `No problem type ${path.code}.`);
      return { status: 200, body: problemPage(path.code as ProblemCode), contentType: 'text/html; charset=utf-8' };
    },
  });
}
