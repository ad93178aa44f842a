/**
 * Benchmark child: the least a Hono + @hono/node-server + undici proxy can cost, as the
 * yardstick for yaLLMproxy's own overhead. POST /v1/chat/completions reads the body, sends it
 * to the upstream over a keep-alive undici Pool (same pool settings as `src/upstream/pools.ts`,
 * so the comparison is about the request path, not connection handling), and answers with the
 * upstream's status, content-type and body: buffered for JSON, piped through for SSE.
 *
 * Deliberately absent, because they are the proxy's job and so what the comparison measures:
 * JSON parsing / validation, routing, header filtering, retries, request records, client-abort
 * propagation for non-stream requests, error mapping.
 *
 *   node --import tsx scripts/bench/bare-passthrough.ts --upstream http://127.0.0.1:PORT/bench/v1
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { Pool } from 'undici';
import { argValue, runChild, serveUntilStopped } from './child.ts';

runChild('bare pass-through', async () => {
  const base = new URL(argValue('upstream'));
  const host = argValue('host', '127.0.0.1');
  const upstreamPath = `${base.pathname.replace(/\/+$/, '')}/chat/completions`;
  const pool = new Pool(base.origin, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });
  // What a real pass-through must send: the backend's key instead of the client's.
  const upstreamHeaders = { 'content-type': 'application/json', authorization: 'Bearer sk-bench-upstream' };

  const app = new Hono();
  app.post('/v1/chat/completions', async (c) => {
    const body = Buffer.from(await c.req.arrayBuffer());
    const res = await pool.request({ method: 'POST', path: upstreamPath, headers: upstreamHeaders, body });
    const type = res.headers['content-type'];
    const headers: Record<string, string> = typeof type === 'string' ? { 'content-type': type } : {};
    if (typeof type === 'string' && type.startsWith('text/event-stream')) {
      return new Response(pipe(res.body), { status: res.statusCode, headers });
    }
    return new Response(new Uint8Array(await res.body.arrayBuffer()), { status: res.statusCode, headers });
  });

  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: 0 }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  serveUntilStopped('bare pass-through', `http://${host}:${port}`, {
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await pool.destroy();
    },
  });
});

/**
 * Each read of the client side pulls one upstream chunk: bytes go out as they arrive. Not
 * `Readable.toWeb`: on Node 20 it throws "Controller is already closed" from a data event
 * after the client went away, which kills the process.
 */
function pipe(body: Readable): ReadableStream<Uint8Array> {
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  // Read errors reach the client through the iterator; this listener only keeps the abort error
  // of a cancel that comes before the first read (iterator not started yet) from being unhandled.
  body.on('error', () => {});
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const r = await it.next();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      },
      cancel() {
        body.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}
