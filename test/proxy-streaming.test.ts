import { request } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.ts';
import { model, startTestProxy, type TestProxy } from './helpers/proxy.ts';

let up: FakeUpstream;
let t: TestProxy;

const chat = (m: string, extra: Record<string, unknown> = {}) => ({
  model: m,
  messages: [{ role: 'user', content: 'hi' }],
  stream: true,
  ...extra,
});
const ev = (obj: unknown) => `data: ${JSON.stringify(obj)}\n\n`;
const delta = (content: string) => ev({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: null }] });

beforeAll(async () => {
  up = await startFakeUpstream();
  t = await startTestProxy({
    model_list: [model('s', up.base('s')), model('fb', up.base('fb'))],
    router_settings: { fallbacks: [{ s: ['fb'] }] },
    proxy_settings: { timeouts: { stream_idle_ms: 250 }, logging: { max_stream_chunks: 3 } },
  });
});
afterAll(async () => {
  await t.close();
  await up.close();
});
afterEach(() => up.reset());

async function readAll(res: Response): Promise<{ text: string; firstChunkAt: number }> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = '';
  let firstChunkAt = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (!firstChunkAt) firstChunkAt = Date.now();
    text += dec.decode(value, { stream: true });
  }
  return { text, firstChunkAt };
}

describe('streaming', () => {
  it('relays every upstream byte unchanged and records usage from the final chunk', async () => {
    up.script('s', [{ kind: 'ok', delayMs: 15 }]);
    const res = await t.post('/v1/chat/completions', chat('s'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const { text } = await readAll(res);
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    const content = text
      .split('\n\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => JSON.parse(l.slice(6)) as { choices: Array<{ delta?: { content?: string } }> })
      .map((c) => c.choices[0]?.delta?.content ?? '')
      .join('');
    expect(content).toBe('Hello from fake upstream');
    await t.sink.waitFor(1);
    const rec = t.sink.records.at(-1)!;
    expect(rec).toMatchObject({ isStream: true, outcome: 'success', finishReason: 'stop', usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } });
    expect(rec.streamChunks).toHaveLength(3);
    expect(rec.streamChunksDropped).toBeGreaterThan(0);
    expect(rec.ttfbMs).not.toBeNull();
  });

  it('sends the first event to the client before the upstream has finished', async () => {
    up.script('s', [{ kind: 'stream', events: [delta('one'), delta('two'), 'data: [DONE]\n\n'], delayMs: 150 }]);
    const sent = Date.now();
    const res = await t.post('/v1/chat/completions', chat('s'));
    const { text, firstChunkAt } = await readAll(res);
    const done = Date.now();
    expect(text).toBe(delta('one') + delta('two') + 'data: [DONE]\n\n');
    // First event reaches us long before the remaining 2 × 150 ms of upstream delays.
    expect(done - firstChunkAt).toBeGreaterThanOrEqual(250);
    expect(firstChunkAt - sent).toBeLessThan(done - sent - 250);
  });

  it('keep-alive comments before the first event are relayed with it, not treated as content', async () => {
    up.script('s', [{ kind: 'stream', events: [': ping\n\n', ev({ error: { message: 'boom', type: 'server_error' } })] }]);
    const res = await t.post('/v1/chat/completions', chat('s'));
    await readAll(res);
    expect(up.requestsFor('fb')).toHaveLength(1);
  });

  it('an empty event stream is a failed attempt: the fallback answers', async () => {
    up.script('s', [{ kind: 'stream', events: [] }]);
    up.script('fb', [{ kind: 'stream', events: [delta('from fb'), 'data: [DONE]\n\n'] }]);
    const res = await t.post('/v1/chat/completions', chat('s'));
    expect(res.status).toBe(200);
    expect((await readAll(res)).text).toBe(delta('from fb') + 'data: [DONE]\n\n');
    expect(up.requestsFor('s')).toHaveLength(1);
    expect(up.requestsFor('fb')).toHaveLength(1);
    await t.sink.waitFor(1);
    const rec = t.sink.records.at(-1)!;
    expect(rec).toMatchObject({ outcome: 'success', backendName: 'fb' });
    expect(rec.errors.map((e) => [e.type, e.message])).toEqual([['sse_stream_error', 's closed the event stream before sending any event']]);
  });

  it('a first event larger than the 64 KiB hold is relayed whole, not taken for garbage', async () => {
    const big = delta('x'.repeat(70_000));
    up.script('s', [{ kind: 'stream', events: [big, 'data: [DONE]\n\n'] }]);
    const res = await t.post('/v1/chat/completions', chat('s'));
    expect(res.status).toBe(200);
    expect((await readAll(res)).text).toBe(big + 'data: [DONE]\n\n');
    expect(up.requestsFor('fb')).toHaveLength(0);
  });

  it('an error event after a cut-off line starts on a fresh event', async () => {
    up.script('s', [{ kind: 'stream', events: [delta('partial'), 'data: {"choices":[{"delta":{"cont'], thenHang: true }]);
    const res = await t.post('/v1/chat/completions', chat('s'));
    const { text } = await readAll(res);
    const events = text.split('\n\n').filter(Boolean);
    expect(events.slice(0, 2)).toEqual([delta('partial').trimEnd(), 'data: {"choices":[{"delta":{"cont']);
    expect(events).toHaveLength(3);
    expect(JSON.parse(events[2]!.slice(6))).toMatchObject({ error: { type: 'upstream_error', code: 'timeout' } });
  });

  it('ends a stalled stream with one error event after the idle timeout', async () => {
    up.script('s', [{ kind: 'stream', events: [delta('partial')], thenHang: true }]);
    const res = await t.post('/v1/chat/completions', chat('s'));
    expect(res.status).toBe(200);
    const { text } = await readAll(res);
    const events = text.split('\n\n').filter(Boolean);
    expect(events[0]).toBe(delta('partial').trimEnd());
    expect(events).toHaveLength(2);
    const last = JSON.parse(events[1]!.slice(6)) as { error: { code: string; message: string } };
    expect(last.error.code).toBe('timeout');
    await t.sink.waitFor(1);
    const rec = t.sink.records.at(-1)!;
    expect(rec.outcome).toBe('error');
    expect(rec.errors.map((e) => e.type)).toEqual(['timeout']);
    expect(up.requestsFor('fb')).toHaveLength(0);
  });

  it('ends a stream whose upstream drops mid-way with one error event', async () => {
    up.script('s', [{ kind: 'stream', events: [delta('partial')], thenDrop: true }]);
    const res = await t.post('/v1/chat/completions', chat('s'));
    const { text } = await readAll(res);
    const events = text.split('\n\n').filter(Boolean);
    expect(events).toHaveLength(2);
    expect(JSON.parse(events[1]!.slice(6)).error.code).toBe('connection_error');
    await t.sink.waitFor(1);
    expect(t.sink.records.at(-1)!.outcome).toBe('error');
  });

  it('records a mid-stream SSE error event as an error without cutting the stream', async () => {
    const err = ev({ error: { message: 'went wrong', type: 'server_error' } });
    up.script('s', [{ kind: 'stream', events: [delta('x'), err] }]);
    const res = await t.post('/v1/chat/completions', chat('s'));
    const { text } = await readAll(res);
    expect(text).toBe(delta('x') + err);
    await t.sink.waitFor(1);
    const rec = t.sink.records.at(-1)!;
    expect(rec.outcome).toBe('error');
    expect(rec.errors.map((e) => e.type)).toEqual(['sse_stream_error']);
  });

  it('a client disconnect aborts the upstream request within 100 ms and is recorded as cancelled', async () => {
    up.script('s', [{ kind: 'stream', events: [delta('a')], thenHang: true }]);
    const before = t.sink.records.length;
    const closedAt = await new Promise<number>((resolve, reject) => {
      const req = request(`${t.proxy.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.once('data', () => {
          const at = Date.now();
          req.destroy();
          resolve(at);
        });
      });
      req.on('error', () => undefined);
      req.end(JSON.stringify(chat('s')));
      setTimeout(() => reject(new Error('no first chunk')), 3000);
    });
    await up.waitForAbort(1, 2000);
    expect(up.aborted[0]!.closedAt! - closedAt).toBeLessThan(100);
    await t.sink.waitFor(before + 1);
    const rec = t.sink.records.at(-1)!;
    expect(rec.outcome).toBe('cancelled');
    expect(rec.errors.map((e) => e.type)).toEqual(['client_disconnect']);
  });

  it('a client disconnect before the upstream answers aborts it too (non-stream)', async () => {
    up.script('s', [{ kind: 'hang' }]);
    const before = t.sink.records.length;
    const req = request(`${t.proxy.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    req.on('error', () => undefined);
    req.end(JSON.stringify({ ...chat('s'), stream: false }));
    await up.waitForRequests(1);
    const closedAt = Date.now();
    req.destroy();
    await up.waitForAbort(1, 2000);
    expect(up.aborted[0]!.closedAt! - closedAt).toBeLessThan(100);
    await t.sink.waitFor(before + 1);
    const rec = t.sink.records.at(-1)!;
    expect(rec.outcome).toBe('cancelled');
    expect(rec.attempts.map((a) => a.errorType)).toEqual(['client_disconnect']);
  });
});
