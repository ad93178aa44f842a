/**
 * Sockets per backend origin: every open stream holds one for its whole life, so the pool's limit
 * is the number of streams that can flow at once. It used to be a fixed 256 (the 257th stream
 * waited, silently, for a free socket); now it is `proxy_settings.max_upstream_connections`.
 */
import { request, type ClientRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.ts';
import { model, startTestProxy, type TestProxy } from './helpers/proxy.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Opens `n` streams on fresh client connections (no client-side pool in the way); returns them. */
function openStreams(t: TestProxy, n: number): ClientRequest[] {
  const body = JSON.stringify({ model: 'held', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  return Array.from({ length: n }, () => {
    const req = request(`${t.proxy.url}/v1/chat/completions`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('error', () => undefined);
    req.on('response', (res) => res.resume());
    req.end(body);
    return req;
  });
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function setup(settings: Record<string, unknown>): Promise<{ up: FakeUpstream; t: TestProxy }> {
  const up = await startFakeUpstream();
  cleanups.push(() => up.close());
  up.script('held', [{ kind: 'stream', events: ['data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'], thenHang: true }]);
  const t = await startTestProxy({ model_list: [model('held', up.base('held'))], proxy_settings: settings });
  cleanups.push(() => t.close());
  return { up, t };
}

describe('upstream connections per origin', () => {
  it('max_upstream_connections bounds the streams in flight; the next one goes when one ends', async () => {
    const { up, t } = await setup({ max_upstream_connections: 2 });
    const streams = openStreams(t, 3);
    cleanups.push(() => streams.forEach((s) => s.destroy()));
    await until(() => up.requests.length === 2, '2 upstream requests');
    await new Promise((r) => setTimeout(r, 300));
    expect(up.requests).toHaveLength(2);
    streams[0]!.destroy();
    await until(() => up.requests.length === 3, 'the third once a socket is free');
  });

  it('by default 300 streams flow at once (the old fixed limit was 256)', { timeout: 60_000 }, async () => {
    const { up, t } = await setup({});
    expect(t.config.maxUpstreamConnections).toBe(4_096);
    const streams = openStreams(t, 300);
    cleanups.push(() => streams.forEach((s) => s.destroy()));
    await until(() => up.requests.length === 300, '300 upstream requests', 45_000);
  });
});
