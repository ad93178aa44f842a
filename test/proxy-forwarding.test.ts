import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.ts';
import { model, startTestProxy, type TestProxy } from './helpers/proxy.ts';

let up: FakeUpstream;
let t: TestProxy;

const chat = (m: string, extra: Record<string, unknown> = {}) => ({ model: m, messages: [{ role: 'user', content: 'hi' }], ...extra });

beforeAll(async () => {
  up = await startFakeUpstream();
  t = await startTestProxy({
    model_list: [
      model('plain', up.base('plain')),
      model('target', up.base('target'), { model: 'openai/gpt-real' }),
      model('params', up.base('params'), { parameters: { max_tokens: { default: 99, allow_override: false } } }, {
        parameters: { temperature: { default: 0.5 } },
      }),
      model('reasoner', up.base('reasoner'), { supports_reasoning: true }),
    ],
    proxy_settings: { enable_responses_endpoint: true },
  });
});
afterAll(async () => {
  await t.close();
  await up.close();
});
afterEach(() => up.reset());

describe('forwarding', () => {
  it('relays a non-stream chat completion and forwards the body byte-for-byte', async () => {
    const raw = '{"model":"plain",  "messages":[{"role":"user","content":"hi ünïcode"}],"x":1.50}';
    const res = await t.post('/v1/chat/completions', raw, { authorization: 'Bearer client-key', 'x-custom': 'kept' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: Array<{ message: { content: string } }>; usage: unknown };
    expect(body.choices[0]!.message.content).toBe('Hello from fake upstream');
    expect(body.usage).toEqual({ prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 });
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const [seen] = up.requestsFor('plain');
    expect(seen!.path).toBe('/v1/chat/completions');
    expect(seen!.rawBody.toString('utf8')).toBe(raw);
    expect(seen!.headers.authorization).toBe('Bearer sk-test-plain-secret');
    expect(seen!.headers['x-custom']).toBe('kept');
    expect(seen!.headers['content-length']).toBe(String(Buffer.byteLength(raw)));

    await t.sink.waitFor(1);
    const rec = t.sink.records.at(-1)!;
    expect(rec).toMatchObject({
      id,
      model: 'plain',
      isStream: false,
      path: '/v1/chat/completions',
      method: 'POST',
      outcome: 'success',
      statusCode: 200,
      backendName: 'plain',
      route: ['plain'],
      usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
      finishReason: 'stop',
      errors: [],
    });
    expect(rec.headers.authorization).toBe('Bearer cli****');
    expect(rec.body).toEqual(JSON.parse(raw));
    expect(rec.attempts).toHaveLength(1);
    expect(rec.attempts[0]).toMatchObject({ backend: 'plain', attempt: 1, status: 200, error: null, url: `${up.base('plain')}/chat/completions` });
  });

  it('normalises openai/<name> and rewrites the target model only when configured', async () => {
    const res = await t.post('/v1/chat/completions', chat('OPENAI/target'));
    expect(res.status).toBe(200);
    expect((up.requestsFor('target')[0]!.json as { model: string }).model).toBe('gpt-real');
    const rec = (await t.sink.waitFor(t.sink.records.length), t.sink.records.at(-1)!);
    expect(rec.model).toBe('target');
  });

  it('applies parameter overrides from both placements', async () => {
    await t.post('/v1/chat/completions', chat('params', { max_tokens: 5 }));
    await t.post('/v1/chat/completions', chat('params', { temperature: 0.1 }));
    const [a, b] = up.requestsFor('params').map((r) => r.json as Record<string, unknown>);
    expect(a).toMatchObject({ max_tokens: 99, temperature: 0.5 });
    expect(b).toMatchObject({ max_tokens: 99, temperature: 0.1 });
  });

  it('injects thinking for reasoning backends unless disabled', async () => {
    await t.post('/v1/chat/completions', chat('reasoner', { thinking: { type: 'enabled', budget_tokens: 10 } }));
    await t.post('/v1/chat/completions', chat('reasoner', { thinking: { type: 'disabled' } }));
    await t.post('/v1/chat/completions', chat('reasoner'));
    const bodies = up.requestsFor('reasoner').map((r) => (r.json as { thinking: unknown }).thinking);
    expect(bodies).toEqual([{ type: 'enabled' }, { type: 'disabled' }, { type: 'enabled' }]);
  });

  it('forwards completions, embeddings and responses to the same path under api_base', async () => {
    const c = await t.post('/v1/completions', { model: 'plain', prompt: 'Say hi' });
    expect(c.status).toBe(200);
    expect(((await c.json()) as { object: string }).object).toBe('text_completion');
    const e = await t.post('/v1/embeddings', { model: 'plain', input: ['a', 'b'] });
    expect(e.status).toBe(200);
    expect(((await e.json()) as { data: unknown[] }).data).toHaveLength(2);
    const r = await t.post('/v1/responses', { model: 'plain', input: 'hi' });
    expect(r.status).toBe(200);
    expect(up.requestsFor('plain').map((q) => q.path)).toEqual(['/v1/completions', '/v1/embeddings', '/v1/responses']);
  });

  it('drops client credentials and hop-by-hop headers, asks for identity encoding', async () => {
    await t.post('/v1/chat/completions', chat('plain'), {
      'x-api-key': 'client-secret',
      cookie: 'a=b',
      'accept-encoding': 'gzip',
      'proxy-authorization': 'Basic zzz',
    });
    const h = up.requestsFor('plain')[0]!.headers;
    expect(h['x-api-key']).toBeUndefined();
    expect(h.cookie).toBeUndefined();
    expect(h['proxy-authorization']).toBeUndefined();
    expect(h['accept-encoding']).toBe('identity');
  });

  it('lists models in the OpenAI shape and answers /health', async () => {
    const res = await fetch(`${t.base}/models`);
    const body = (await res.json()) as { object: string; data: Array<Record<string, unknown>> };
    expect(body.object).toBe('list');
    expect(body.data.map((m) => m.id)).toEqual(['plain', 'target', 'params', 'reasoner']);
    expect(body.data[0]).toEqual({ id: 'plain', object: 'model', created: expect.any(Number), owned_by: 'yallmp-proxy' });
    const health = await fetch(`${t.proxy.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
  });
});
