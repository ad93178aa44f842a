/**
 * The admin page: static files read once, served without the admin guard (they hold no data; every
 * call the page makes goes through it). A strict CSP keeps the page to its own script and style.
 */
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { serveStatic } from './static.ts';

const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/admin/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/admin/admin.js': { file: 'admin.js', type: 'text/javascript; charset=utf-8' },
  '/admin/admin.css': { file: 'admin.css', type: 'text/css; charset=utf-8' },
};

export function adminUiRoutes(): Hono {
  const app = new Hono();
  for (const [path, { file, type }] of Object.entries(ASSETS)) {
    serveStatic(app, path, readFileSync(new URL(`../ui/admin/${file}`, import.meta.url)), type);
  }
  // The original answered /admin with a redirect to /admin/ (FastAPI's redirect_slashes).
  app.get('/admin', (c) => c.redirect('/admin/', 307));
  return app;
}
