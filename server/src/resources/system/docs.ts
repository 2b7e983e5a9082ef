import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const distDir = dirname(require.resolve('swagger-ui-dist/package.json'));

const INITIALIZER = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: '/api/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    persistAuthorization: true,
    tryItOutEnabled: false,
    displayRequestDuration: true,
    displayOperationId: true,
    filter: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
    // After "Try it out" on logIn, the browser holds the session cookie and sends it along; writes
    // made with it must echo the CSRF cookie in X-CSRF-Token, which this page does for the user.
    requestInterceptor: function (request) {
      var csrf = document.cookie.match(/(?:^|; )sb_csrf=([^;]*)/);
      if (csrf && csrf[1] && !request.headers['X-CSRF-Token']) request.headers['X-CSRF-Token'] = decodeURIComponent(csrf[1]);
      return request;
    },
  });
};
`;

export const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Switchboard API</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="stylesheet" href="/api/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/api/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/api/docs/swagger-ui-bundle.js" charset="utf-8"></script>
  <script src="/api/docs/swagger-ui-standalone-preset.js" charset="utf-8"></script>
  <script src="/api/docs/swagger-initializer.js" charset="utf-8"></script>
</body>
</html>
`;

type Asset = { contentType: string; body: Buffer };

/** Swagger UI is served from the installed package: no CDN, so it works offline. Read once, on first use. */
// A Map: the name comes from the URL, and a plain object would answer `constructor` or `__proto__` too.
const files = new Map<string, string>([
  ['swagger-ui.css', 'text/css'],
  ['swagger-ui-bundle.js', 'application/javascript'],
  ['swagger-ui-standalone-preset.js', 'application/javascript'],
  ['favicon-32x32.png', 'image/png'],
  ['favicon-16x16.png', 'image/png'],
]);
const cache = new Map<string, Asset>([['swagger-initializer.js', { contentType: 'application/javascript', body: Buffer.from(INITIALIZER) }]]);

export function docsAsset(name: string): Asset | undefined {
  const cached = cache.get(name);
  if (cached) return cached;
  const contentType = files.get(name);
  if (!contentType) return undefined;
  const asset = { contentType, body: readFileSync(join(distDir, name)) };
  cache.set(name, asset);
  return asset;
}
