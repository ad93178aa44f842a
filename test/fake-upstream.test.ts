/**
 * Proves the fake upstream itself, so integration-test failures can be blamed on the proxy.
 * Every request goes over real HTTP with `fetch` (or `node:http` where fetch hides details).
 */
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeUpstream } from './helpers/fake-upstream.ts';
import type { FakeUpstream } from './helpers/fake-upstream.ts';

let up: FakeUpstream;

beforeEach(async () => {
  up = await startFakeUpstream();
});

afterEach(async () => {
  await up.close();
});

function post(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...init,
  });
}

/** Splits an SSE body into its `\n\n`-terminated events, checking nothing trails the last one. */
function sseEvents(text: string): string[] {
  expect(text.endsWith('\n\n')).toBe(true);
  return text.split('\n\n').slice(0, -1);
}

function dataOf(event: string): unknown {
  expect(event.startsWith('data: ')).toBe(true);
  const payload = event.slice('data: '.length);
  return payload === '[DONE]' ? '[DONE]' : (JSON.parse(payload) as unknown);
}

interface Read {
  text: string;
  error: unknown;
  /** Arrival time of each network read, relative to the first. */
  times: number[];
}

/** Reads a body until it ends or fails, keeping what arrived before a failure. */
async function readAll(res: Response): Promise<Read> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const out: Read = { text: '', error: null, times: [] };
  let t0 = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const now = performance.now();
      if (out.times.length === 0) t0 = now;
      out.times.push(now - t0);
      out.text += decoder.decode(value, { stream: true });
    }
  } catch (err) {
    out.error = err;
  }
  return out;
}

/** Resolves 'pending' if the promise has not settled within `ms`. */
function settlesWithin<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);
}

describe('ok behaviour', () => {
  it('answers a non-stream chat completion in OpenAI shape', async () => {
    const res = await post(`${up.base('b1')}/chat/completions`, { model: 'gpt-x', messages: [] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-x',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from fake upstream' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
    });
    expect(body.id).toMatch(/^chatcmpl-/);
    expect(typeof body.created).toBe('number');
  });

  it('uses scripted content, usage and headers; usage null omits usage', async () => {
    up.script('b1', [
      { kind: 'ok', content: 'Hi', usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }, headers: { 'X-Extra': 'yes' } },
      { kind: 'ok', usage: null },
    ]);
    const r1 = await post(`${up.base('b1')}/chat/completions`, { model: 'm' });
    expect(r1.headers.get('x-extra')).toBe('yes');
    expect(await r1.json()).toMatchObject({
      choices: [{ message: { content: 'Hi' } }],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    });
    const r2 = (await (await post(`${up.base('b1')}/chat/completions`, { model: 'm' })).json()) as object;
    expect(r2).not.toHaveProperty('usage');
  });

  it('streams role, word chunks, finish, usage and [DONE] as separate SSE events', async () => {
    up.script('b1', [{ kind: 'ok', content: 'one two  three' }]);
    const res = await post(`${up.base('b1')}/chat/completions`, { model: 'gpt-s', stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = sseEvents(await res.text()).map(dataOf) as Array<Record<string, any>>;
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1);
    for (const c of chunks) expect(c).toMatchObject({ object: 'chat.completion.chunk', model: 'gpt-s' });
    expect(chunks[0]!.choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const words = chunks.slice(1, -2).map((c) => c.choices[0].delta.content as string);
    expect(words).toEqual(['one', ' two', '  three']);
    expect(chunks.at(-2)!.choices[0]).toEqual({ index: 0, delta: {}, finish_reason: 'stop' });
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } });
  });

  it('omits the usage chunk when usage is null', async () => {
    up.script('b1', [{ kind: 'ok', usage: null }]);
    const res = await post(`${up.base('b1')}/chat/completions`, { stream: true });
    const events = sseEvents(await res.text()).map(dataOf);
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1) as Array<Record<string, any>>;
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('stop');
    expect(chunks.some((c) => 'usage' in c)).toBe(false);
  });

  it('spaces stream writes by delayMs, first one immediately', async () => {
    up.script('b1', [{ kind: 'ok', content: 'a b c', delayMs: 40 }]);
    const t0 = performance.now();
    const res = await post(`${up.base('b1')}/chat/completions`, { stream: true });
    const read = await readAll(res);
    // role + 3 words + finish + usage + [DONE] = 7 events, 6 gaps of 40 ms.
    expect(sseEvents(read.text)).toHaveLength(7);
    expect(read.times.length).toBeGreaterThanOrEqual(5);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(6 * 40 - 10);
  });

  it('delays a non-stream answer by delayMs', async () => {
    up.script('b1', [{ kind: 'ok', delayMs: 80 }]);
    const t0 = performance.now();
    await (await post(`${up.base('b1')}/chat/completions`, {})).json();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(70);
  });

  it('answers /v1/completions as text_completion, JSON and stream', async () => {
    const json = await (await post(`${up.base('b1')}/completions`, { model: 'davinci', prompt: 'x' })).json();
    expect(json).toMatchObject({
      object: 'text_completion',
      model: 'davinci',
      choices: [{ text: 'Hello from fake upstream', index: 0, finish_reason: 'stop' }],
      usage: { total_tokens: 12 },
    });
    const res = await post(`${up.base('b1')}/completions`, { model: 'davinci', stream: true });
    const events = sseEvents(await res.text()).map(dataOf) as Array<Record<string, any>>;
    expect(events.at(-1)).toBe('[DONE]');
    const text = events
      .slice(0, -1)
      .flatMap((e) => e.choices as Array<{ text: string }>)
      .map((c) => c.text)
      .join('');
    expect(text).toBe('Hello from fake upstream');
    expect(events.at(-2)).toMatchObject({ object: 'text_completion', choices: [], usage: { total_tokens: 12 } });
  });

  it('answers /v1/embeddings for a string and for an array', async () => {
    const one = (await (await post(`${up.base('b1')}/embeddings`, { model: 'emb', input: 'hi' })).json()) as any;
    expect(one).toMatchObject({ object: 'list', model: 'emb', usage: { prompt_tokens: 5, total_tokens: 5 } });
    expect(one.data).toHaveLength(1);
    expect(one.data[0]).toMatchObject({ object: 'embedding', index: 0 });
    expect(one.data[0].embedding).toHaveLength(8);
    for (const x of one.data[0].embedding) expect(typeof x).toBe('number');

    const many = (await (await post(`${up.base('b1')}/embeddings`, { model: 'emb', input: ['a', 'b', 'hi'] })).json()) as any;
    expect(many.data.map((d: { index: number }) => d.index)).toEqual([0, 1, 2]);
    // Deterministic: equal input, equal vector.
    expect(many.data[2].embedding).toEqual(one.data[0].embedding);
  });

  it('answers /v1/responses, JSON and stream', async () => {
    const json = await (await post(`${up.base('b1')}/responses`, { model: 'r1', input: 'x' })).json();
    expect(json).toMatchObject({
      object: 'response',
      status: 'completed',
      model: 'r1',
      output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello from fake upstream' }] }],
      usage: { input_tokens: 5, output_tokens: 7, total_tokens: 12 },
    });
    const res = await post(`${up.base('b1')}/responses`, { model: 'r1', stream: true });
    const events = sseEvents(await res.text());
    expect(events[0]).toMatch(/^event: response\.created\ndata: /);
    expect(events.at(-1)).toMatch(/^event: response\.completed\ndata: /);
    const deltas = events
      .filter((e) => e.startsWith('event: response.output_text.delta\n'))
      .map((e) => (JSON.parse(e.split('\ndata: ')[1]!) as { delta: string }).delta);
    expect(deltas.join('')).toBe('Hello from fake upstream');
  });

  it('answers GET /v1/models and 404s unknown paths', async () => {
    const models = await (await fetch(`${up.base('b1')}/models`)).json();
    expect(models).toMatchObject({ object: 'list', data: [{ object: 'model' }] });
    const one = await (await fetch(`${up.base('b1')}/models/foo`)).json();
    expect(one).toMatchObject({ id: 'foo', object: 'model' });
    const res = await post(`${up.base('b1')}/nope`, {});
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
  });

  it('keeps connections alive', async () => {
    const { port } = up;
    const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/b1/v1/models' }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.headers));
      });
      req.on('error', reject);
      req.end();
    });
    expect(headers.connection).toBe('keep-alive');
  });
});

describe('status behaviour', () => {
  it('sends an OpenAI error body with the given status and headers', async () => {
    up.script('b1', [
      { kind: 'status', status: 429, headers: { 'retry-after': '2' } },
      { kind: 'status', status: 500 },
    ]);
    const r1 = await post(`${up.base('b1')}/chat/completions`, {});
    expect(r1.status).toBe(429);
    expect(r1.headers.get('retry-after')).toBe('2');
    expect(await r1.json()).toEqual({
      error: { message: 'fake upstream error 429', type: 'invalid_request_error', param: null, code: null },
    });
    const r2 = await post(`${up.base('b1')}/chat/completions`, {});
    expect(r2.status).toBe(500);
    expect(await r2.json()).toMatchObject({ error: { type: 'server_error' } });
  });

  it('sends object bodies as JSON and string bodies verbatim', async () => {
    up.script('b1', [
      { kind: 'status', status: 400, body: { detail: 'bad' } },
      { kind: 'status', status: 502, body: '<html>bad gateway</html>', headers: { 'content-type': 'text/html' } },
      { kind: 'status', status: 503, body: 'plain' },
    ]);
    const r1 = await post(`${up.base('b1')}/chat/completions`, {});
    expect(r1.status).toBe(400);
    expect(await r1.json()).toEqual({ detail: 'bad' });
    const r2 = await post(`${up.base('b1')}/chat/completions`, {});
    expect(r2.status).toBe(502);
    expect(r2.headers.get('content-type')).toBe('text/html');
    expect(await r2.text()).toBe('<html>bad gateway</html>');
    const r3 = await post(`${up.base('b1')}/chat/completions`, {});
    expect(r3.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await r3.text()).toBe('plain');
  });

  it('honours delayMs', async () => {
    up.script('b1', [{ kind: 'status', status: 500, delayMs: 80 }]);
    const t0 = performance.now();
    const res = await post(`${up.base('b1')}/chat/completions`, {});
    expect(res.status).toBe(500);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(70);
  });
});

describe('stream behaviour', () => {
  it('writes each event verbatim, with status, headers and delays', async () => {
    const events = ['data: {"a":1}\n\n', 'data: {"b":2}\n\n', ': comment\n\n', 'data: [DONE]\n\n'];
    up.script('b1', [{ kind: 'stream', events, status: 201, headers: { 'x-s': '1' }, delayMs: 30 }]);
    const t0 = performance.now();
    const res = await post(`${up.base('b1')}/chat/completions`, { stream: true });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-s')).toBe('1');
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const read = await readAll(res);
    expect(read.error).toBeNull();
    expect(read.text).toBe(events.join(''));
    expect(read.times.length).toBeGreaterThanOrEqual(3);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(3 * 30 - 10);
  });

  it('thenHang keeps the response open after the events', async () => {
    up.script('b1', [{ kind: 'stream', events: ['data: 1\n\n'], thenHang: true }]);
    const ac = new AbortController();
    const res = await post(`${up.base('b1')}/chat/completions`, {}, { signal: ac.signal });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: 1\n\n');
    expect(await settlesWithin(reader.read(), 100)).toBe('pending');
    ac.abort();
  });

  it('thenDrop delivers the events, then breaks the connection', async () => {
    up.script('b1', [{ kind: 'stream', events: ['data: 1\n\n', 'data: 2\n\n'], thenDrop: true }]);
    const res = await post(`${up.base('b1')}/chat/completions`, {});
    expect(res.status).toBe(200);
    const read = await readAll(res);
    expect(read.text).toBe('data: 1\n\ndata: 2\n\n');
    expect(read.error).toBeInstanceOf(Error);
    // Dropping on purpose is not a client abort.
    expect(up.aborted).toHaveLength(0);
  });
});

describe('failure behaviours', () => {
  it('hang never answers and close() still returns promptly', async () => {
    up.script('b1', [{ kind: 'hang' }]);
    const pending = post(`${up.base('b1')}/chat/completions`, { x: 1 }).then(
      () => 'answered',
      () => 'failed',
    );
    await up.waitForRequests(1);
    expect(await settlesWithin(pending, 100)).toBe('pending');
    const t0 = performance.now();
    await up.close();
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(await pending).toBe('failed');
    expect(up.aborted).toHaveLength(0);
  });

  it('hang-after-headers sends 200 + SSE headers then nothing', async () => {
    up.script('b1', [{ kind: 'hang-after-headers' }]);
    const ac = new AbortController();
    const res = await post(`${up.base('b1')}/chat/completions`, { stream: true }, { signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await settlesWithin(res.body!.getReader().read(), 100)).toBe('pending');
    ac.abort();
    await up.waitForAbort(1);
  });

  it('drop gives the client a connection error', async () => {
    up.script('b1', [{ kind: 'drop' }]);
    await expect(post(`${up.base('b1')}/chat/completions`, {})).rejects.toThrow();
    expect(up.requests).toHaveLength(1);
    expect(up.aborted).toHaveLength(0);
  });

  it.each([
    ['openai', 'data: {"error":{"message":"upstream overloaded","type":"overloaded_error","code":"overloaded"}}\n\n'],
    [
      'minimax',
      'data: {"type":"error","error":{"type":"overloaded_error","message":"MiniMax overloaded","http_code":"529"}}\n\n',
    ],
  ] as const)('sse-error %s sends one error event then ends', async (style, expected) => {
    up.script('b1', [{ kind: 'sse-error', style }]);
    const res = await post(`${up.base('b1')}/chat/completions`, { stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await res.text()).toBe(expected);
  });

  it('sse-error honours status', async () => {
    up.script('b1', [{ kind: 'sse-error', style: 'openai', status: 529 }]);
    const res = await post(`${up.base('b1')}/chat/completions`, { stream: true });
    expect(res.status).toBe(529);
  });
});

describe('echo behaviour', () => {
  it('echoes method, path, query, headers and body', async () => {
    up.script('b1', [{ kind: 'echo' }]);
    const res = await post(`${up.base('b1')}/chat/completions?a=1&b=2`, { model: 'm' }, {
      headers: { 'content-type': 'application/json', Authorization: 'Bearer k' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      method: 'POST',
      path: '/v1/chat/completions',
      query: 'a=1&b=2',
      prefix: 'b1',
      headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
      body: { model: 'm' },
    });
  });
});

describe('scripting and recording', () => {
  it('queues per prefix; each request consumes one, the last repeats; others default to ok', async () => {
    up.script('b1', [
      { kind: 'status', status: 500 },
      { kind: 'status', status: 429 },
    ]);
    up.script('b2', [{ kind: 'status', status: 400 }]);
    const statuses = async (prefix: string, n: number): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const r = await post(`${up.base(prefix)}/chat/completions`, {});
        await r.arrayBuffer();
        out.push(r.status);
      }
      return out;
    };
    expect(await statuses('b1', 4)).toEqual([500, 429, 429, 429]);
    expect(await statuses('b2', 2)).toEqual([400, 400]);
    expect(await statuses('b3', 2)).toEqual([200, 200]);
    expect(up.requestsFor('b1')).toHaveLength(4);
    expect(up.requestsFor('b3').map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);

    // Re-scripting restarts the queue.
    up.script('b1', [{ kind: 'status', status: 503 }, { kind: 'ok' }]);
    expect(await statuses('b1', 3)).toEqual([503, 200, 200]);
  });

  it("uses prefix '' for requests without a prefix segment", async () => {
    up.script('', [{ kind: 'status', status: 418 }]);
    const res = await post(`${up.origin}/v1/chat/completions`, {});
    expect(res.status).toBe(418);
    await post(`${up.origin}/health`, {});
    expect(up.requests.map((r) => [r.prefix, r.path])).toEqual([
      ['', '/v1/chat/completions'],
      ['', '/health'],
    ]);
    expect(up.base('')).toBe(`${up.origin}/v1`);
  });

  it('records every request in order: lowercased headers, exact raw bytes, json, query', async () => {
    expect(up.origin).toBe(`http://127.0.0.1:${up.port}`);
    expect(up.base('b1')).toBe(`${up.origin}/b1/v1`);
    const raw = Buffer.from('{"model":"m", "messages":[{"content":"héllo ✓"}]}  ', 'utf8');
    await (
      await fetch(`${up.base('b1')}/chat/completions?x=1`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Custom-Header': 'Value' },
        body: raw,
      })
    ).arrayBuffer();
    const garbage = Buffer.from([0xff, 0x00, 0x7b, 0x80]);
    await (await fetch(`${up.base('b2')}/embeddings`, { method: 'POST', body: garbage })).arrayBuffer();
    await (await fetch(`${up.base('b1')}/models`)).arrayBuffer();

    expect(up.requests).toHaveLength(3);
    const [a, b, c] = up.requests;
    expect(a).toMatchObject({ prefix: 'b1', method: 'POST', path: '/v1/chat/completions', query: 'x=1', closedEarly: false });
    expect(a!.headers['x-custom-header']).toBe('Value');
    expect(a!.headers['content-type']).toBe('application/json');
    expect(Object.keys(a!.headers).every((k) => k === k.toLowerCase())).toBe(true);
    expect(a!.rawBody.equals(raw)).toBe(true);
    expect(a!.json).toEqual({ model: 'm', messages: [{ content: 'héllo ✓' }] });
    expect(typeof a!.receivedAt).toBe('number');
    expect(b).toMatchObject({ prefix: 'b2', path: '/v1/embeddings', json: null, query: '' });
    expect(b!.rawBody.equals(garbage)).toBe(true);
    expect(c).toMatchObject({ prefix: 'b1', method: 'GET', path: '/v1/models', json: null });
    expect(c!.rawBody).toHaveLength(0);
    expect(up.requestsFor('b1')).toEqual([a, c]);
  });

  it('reset() forgets requests, aborts and scripts, keeping the same arrays', async () => {
    const requests = up.requests;
    up.script('b1', [{ kind: 'status', status: 500 }]);
    await (await post(`${up.base('b1')}/chat/completions`, {})).arrayBuffer();
    expect(requests).toHaveLength(1);
    up.reset();
    expect(requests).toHaveLength(0);
    expect(up.requests).toBe(requests);
    const res = await post(`${up.base('b1')}/chat/completions`, {});
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });

  it('waitForRequests resolves when enough arrived and rejects on timeout', async () => {
    const waiting = up.waitForRequests(2, 2000);
    await (await post(`${up.base('b1')}/chat/completions`, {})).arrayBuffer();
    await (await post(`${up.base('b1')}/chat/completions`, {})).arrayBuffer();
    await waiting;
    await expect(up.waitForRequests(3, 50)).rejects.toThrow(/timed out after 50 ms waiting for 3 requests \(got 2\)/);
  });

  it('records a client abort of a hanging request within 100 ms', async () => {
    up.script('b1', [{ kind: 'hang' }]);
    const ac = new AbortController();
    const pending = post(`${up.base('b1')}/chat/completions`, {}, { signal: ac.signal }).catch((err: unknown) => err);
    await up.waitForRequests(1);
    const before = Date.now();
    ac.abort();
    await up.waitForAbort(1, 100);
    expect(await pending).toBeInstanceOf(Error);
    expect(up.aborted).toHaveLength(1);
    const rec = up.aborted[0]!;
    expect(rec).toBe(up.requests[0]);
    expect(rec.closedEarly).toBe(true);
    expect(rec.closedAt).toBeGreaterThanOrEqual(before);
    expect(rec.closedAt! - before).toBeLessThan(100);
  });

  it('rejects prefixes that are not a single segment', () => {
    expect(() => up.base('a/b')).toThrow(/one path segment/);
    expect(() => up.script('v1', [])).toThrow(/one path segment/);
  });
});

describe('scripts/fake-upstream.ts CLI', () => {
  it('prints its origin, serves ok responses and exits on SIGTERM', async () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/fake-upstream.ts', '--port', '0', '--delay-ms', '1'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const origin = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = out.match(/fake upstream listening on (http:\/\/\S+)/);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`CLI exited early (${code}): ${out}`)));
      });
      expect(origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await post(`${origin}/any/v1/chat/completions`, { model: 'cli', stream: true });
      const events = sseEvents(await res.text());
      expect(events.at(-1)).toBe('data: [DONE]');
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 20_000);
});
