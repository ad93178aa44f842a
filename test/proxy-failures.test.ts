import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.ts';
import { model, startTestProxy, type TestProxy } from './helpers/proxy.ts';

let up: FakeUpstream;
let t: TestProxy;
let deadBase: string;

const chat = (m: string, extra: Record<string, unknown> = {}) => ({ model: m, messages: [{ role: 'user', content: 'hi' }], ...extra });

/** A port that was free a moment ago: connecting to it is refused. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

beforeAll(async () => {
  up = await startFakeUpstream();
  deadBase = `http://127.0.0.1:${await closedPort()}/v1`;
  t = await startTestProxy({
    model_list: [
      model('a', up.base('a'), { request_timeout: 0.3 }),
      model('b', up.base('b')),
      model('c', up.base('c')),
      model('dead', deadBase),
      model('retry', up.base('retry')),
    ],
    router_settings: {
      num_retries: 1,
      fallbacks: [{ a: ['b', 'c'] }, { dead: ['b'] }],
    },
    proxy_settings: {
      retry: { base_delay_ms: 40, max_delay_ms: 1000, max_retry_after_ms: 150 },
      timeouts: { body_ms: 300, stream_idle_ms: 5000 },
    },
  });
});
afterAll(async () => {
  await t.close();
  await up.close();
});
afterEach(() => up.reset());

async function lastRecord() {
  await new Promise((r) => setTimeout(r, 20));
  return t.sink.records.at(-1)!;
}

describe('fallbacks', () => {
  it.each([
    ['500', { kind: 'status', status: 500 } as const, 'http_retryable'],
    ['429', { kind: 'status', status: 429 } as const, 'http_retryable'],
    ['timeout', { kind: 'hang' } as const, 'timeout'],
    ['connection reset', { kind: 'drop' } as const, 'connection_error'],
    ['SSE error event (openai)', { kind: 'sse-error', style: 'openai' } as const, 'sse_stream_error'],
    ['SSE error event (minimax)', { kind: 'sse-error', style: 'minimax' } as const, 'sse_stream_error'],
  ])('falls back to the next backend after %s', async (_name, behaviour, errorType) => {
    up.script('a', [behaviour]);
    const stream = behaviour.kind === 'sse-error';
    const res = await t.post('/v1/chat/completions', chat('a', { stream }));
    expect(res.status).toBe(200);
    await res.text();
    expect(up.requestsFor('a')).toHaveLength(1);
    expect(up.requestsFor('b')).toHaveLength(1);
    expect(up.requestsFor('c')).toHaveLength(0);
    const rec = await lastRecord();
    expect(rec.outcome).toBe('success');
    expect(rec.backendName).toBe('b');
    expect(rec.route).toEqual(['a', 'b', 'c']);
    expect(rec.attempts.map((x) => [x.backend, x.errorType])).toEqual([
      ['a', errorType],
      ['b', null],
    ]);
    expect(rec.errors.map((e) => e.type)).toEqual([errorType]);
  });

  it('falls back when a non-stream body does not complete within body_ms', async () => {
    up.script('a', [{ kind: 'stream', events: ['{"id":"x",'], thenHang: true, headers: { 'content-type': 'application/json' } }]);
    const res = await t.post('/v1/chat/completions', chat('a'));
    expect(res.status).toBe(200);
    const rec = await lastRecord();
    expect(rec.attempts.map((x) => [x.backend, x.status, x.errorType])).toEqual([
      ['a', 200, 'timeout'],
      ['b', 200, null],
    ]);
    expect(rec.errors[0]!.message).toContain('timeouts.body_ms');
  });

  it('falls back when a body of declared length stalls past body_ms', async () => {
    up.script('a', [{ kind: 'stream', events: ['{"id":"x",'], thenHang: true, headers: { 'content-type': 'application/json', 'content-length': '500' } }]);
    const res = await t.post('/v1/chat/completions', chat('a'));
    expect(res.status).toBe(200);
    const rec = await lastRecord();
    expect(rec.attempts.map((x) => [x.backend, x.status, x.errorType])).toEqual([
      ['a', 200, 'timeout'],
      ['b', 200, null],
    ]);
  });

  it('falls back after connection refused', async () => {
    const res = await t.post('/v1/chat/completions', chat('dead'));
    expect(res.status).toBe(200);
    const rec = await lastRecord();
    expect(rec.attempts.map((x) => [x.backend, x.errorType, x.status])).toEqual([
      ['dead', 'connection_error', null],
      ['b', null, 200],
    ]);
    expect(rec.errors[0]!.message).toContain('ECONNREFUSED');
  });

  it('does not fall back on a 400: the upstream answer reaches the client untouched', async () => {
    const upstreamBody = { error: { message: 'bad temperature', type: 'invalid_request_error', param: 'temperature', code: null } };
    up.script('a', [{ kind: 'status', status: 400, body: upstreamBody }]);
    const res = await t.post('/v1/chat/completions', chat('a'));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(upstreamBody);
    expect(up.requestsFor('b')).toHaveLength(0);
    const rec = await lastRecord();
    expect(rec).toMatchObject({ outcome: 'error', statusCode: 400, backendName: 'a' });
    expect(rec.errors.map((e) => [e.type, e.httpStatus])).toEqual([['http_error', 400]]);
  });

  it('returns the last upstream error response when every backend fails with one', async () => {
    up.script('a', [{ kind: 'status', status: 500 }]);
    up.script('b', [{ kind: 'status', status: 503, body: { error: { message: 'b down', type: 'server_error', param: null, code: null } } }]);
    up.script('c', [{ kind: 'status', status: 429, body: { error: { message: 'c busy', type: 'rate_limit', param: null, code: 'rate' } }, headers: { 'retry-after': '1' } }]);
    const res = await t.post('/v1/chat/completions', chat('a'));
    expect(res.status).toBe(429);
    expect(await res.json()).toEqual({ error: { message: 'c busy', type: 'rate_limit', param: null, code: 'rate' } });
    expect(res.headers.get('retry-after')).toBe('1');
    const rec = await lastRecord();
    expect(rec.outcome).toBe('error');
    expect(rec.statusCode).toBe(429);
    expect(rec.attempts.map((x) => x.status)).toEqual([500, 503, 429]);
  });

  it('answers 502 naming the backends when no attempt got a response', async () => {
    up.script('b', [{ kind: 'drop' }]);
    const res = await t.post('/v1/chat/completions', chat('dead'));
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(body.error.type).toBe('upstream_error');
    expect(body.error.code).toBe('all_backends_failed');
    expect(body.error.param).toBeNull();
    expect(body.error.message).toMatch(/tried: dead, b/);
    const rec = await lastRecord();
    expect(rec.outcome).toBe('error');
    expect(rec.statusCode).toBe(502);
  });
});

describe('retries', () => {
  it('retries the same backend with exponential backoff before falling back', async () => {
    const r = await startTestProxy({
      model_list: [model('retry', up.base('retry'))],
      router_settings: { num_retries: 3 },
      proxy_settings: { retry: { base_delay_ms: 60, max_delay_ms: 1000 } },
    });
    try {
      up.script('retry', [{ kind: 'status', status: 502 }, { kind: 'status', status: 500 }, { kind: 'ok' }]);
      const res = await r.post('/v1/chat/completions', chat('retry'));
      expect(res.status).toBe(200);
      const times = up.requestsFor('retry').map((q) => q.receivedAt);
      expect(times).toHaveLength(3);
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(55);
      expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(115);
      await r.sink.waitFor(1);
      expect(r.sink.records[0]!.attempts.map((x) => [x.attempt, x.status])).toEqual([
        [1, 502],
        [2, 500],
        [3, 200],
      ]);
    } finally {
      await r.close();
    }
  });

  it('honours retry-after up to the configured cap', async () => {
    const r = await startTestProxy({
      model_list: [model('retry', up.base('retry'))],
      router_settings: { num_retries: 2 },
      proxy_settings: { retry: { base_delay_ms: 1, max_delay_ms: 1, max_retry_after_ms: 200 } },
    });
    try {
      up.script('retry', [{ kind: 'status', status: 429, headers: { 'retry-after': '30' } }, { kind: 'ok' }]);
      const res = await r.post('/v1/chat/completions', chat('retry'));
      expect(res.status).toBe(200);
      const [first, second] = up.requestsFor('retry').map((q) => q.receivedAt);
      expect(second! - first!).toBeGreaterThanOrEqual(190);
      expect(second! - first!).toBeLessThan(2000);
    } finally {
      await r.close();
    }
  });
});
