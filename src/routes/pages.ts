/**
 * The `/usage` and `/logs` pages, their shared assets and the vendored uPlot build. Like the admin
 * page: static files read once when the app is created, served without the admin guard (they hold
 * no data; the page's calls to `/api/logs*` go through it), under a CSP that allows only this
 * origin's scripts, styles and fetches — no inline script, no CDN, so the pages work offline.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Hono } from 'hono';
import { serveStatic } from './static.ts';

const HTML = 'text/html; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** URL → file under src/ui/. */
const PAGE_ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/usage': { file: 'usage/index.html', type: HTML },
  '/logs': { file: 'logs/index.html', type: HTML },
  '/ui/usage/usage.js': { file: 'usage/usage.js', type: JS },
  '/ui/usage/usage.css': { file: 'usage/usage.css', type: CSS },
  '/ui/logs/logs.js': { file: 'logs/logs.js', type: JS },
  '/ui/logs/logs.css': { file: 'logs/logs.css', type: CSS },
  '/ui/shared/pages.css': { file: 'shared/pages.css', type: CSS },
  '/ui/shared/common.js': { file: 'shared/common.js', type: JS },
  '/ui/shared/theme.js': { file: 'shared/theme.js', type: JS },
};

/** URL → file inside the `uplot` package (a dependency, so it is in node_modules at run time). */
const VENDOR_ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/ui/vendor/uplot.js': { file: 'uplot/dist/uPlot.iife.min.js', type: JS },
  '/ui/vendor/uplot.css': { file: 'uplot/dist/uPlot.min.css', type: CSS },
};

export function pagesRoutes(): Hono {
  const app = new Hono();
  const require = createRequire(import.meta.url);
  const files: Array<[string, Buffer<ArrayBuffer>, string]> = [
    ...Object.entries(PAGE_ASSETS).map(([path, a]): [string, Buffer<ArrayBuffer>, string] => [
      path,
      readFileSync(new URL(`../ui/${a.file}`, import.meta.url)),
      a.type,
    ]),
    ...Object.entries(VENDOR_ASSETS).map(([path, a]): [string, Buffer<ArrayBuffer>, string] => [path, readFileSync(require.resolve(a.file)), a.type]),
  ];
  for (const [path, body, type] of files) serveStatic(app, path, body, type);
  // Links and bookmarks with a trailing slash land on the page (query string kept; the hash never
  // reaches the server and the browser keeps it across the redirect).
  for (const page of ['/usage', '/logs']) {
    app.get(`${page}/`, (c) => c.redirect(`${page}${new URL(c.req.url).search}`, 307));
  }
  return app;
}
