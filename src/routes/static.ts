import { createHash } from 'node:crypto';
import type { Hono } from 'hono';

/** The pages load only their own scripts and styles and talk only to this origin. */
export const PAGE_SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // Revalidated on every load (the files change with a deploy), answered with 304 via the ETag.
  'cache-control': 'no-cache',
};

/** Serves one file read at start-up, with the page headers and an ETag. */
export function serveStatic(app: Hono, path: string, body: Buffer, type: string): void {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  const headers = { 'content-type': type, etag, ...PAGE_SECURITY_HEADERS };
  const bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength) as Uint8Array<ArrayBuffer>;
  app.get(path, (c) => {
    if (c.req.header('if-none-match') === etag) return new Response(null, { status: 304, headers });
    return new Response(bytes, { headers });
  });
}
