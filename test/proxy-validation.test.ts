import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.ts';
import { model, startTestProxy, type TestProxy } from './helpers/proxy.ts';

let up: FakeUpstream;
let t: TestProxy;

beforeAll(async () => {
  up = await startFakeUpstream();
  t = await startTestProxy(
    {
      model_list: [model('m', up.base('m')), model('needs-env', up.base('m'), { api_key: '${UNSET_TEST_KEY_XYZ}' })],
      proxy_settings: { max_request_body_bytes: 2048 },
    },
    { env: {} },
  );
});
afterAll(async () => {
  await t.close();
  await up.close();
});

const err = (message: string, code: string, param: string | null = null, type = 'invalid_request_error') => ({
  error: { message, type, param, code },
});

describe('request validation', () => {
  it.each([
    ['invalid JSON', '{"model":', 400, err('Invalid JSON payload', 'invalid_json'), 'unknown'],
    ['a JSON array', '[1,2]', 400, err('Request body must be a JSON object', 'invalid_json_shape'), 'unknown'],
    ['no model', '{"messages":[{"role":"user","content":"x"}]}', 400, err('You must provide a model parameter', 'missing_parameter', 'model'), 'unknown'],
    ['an empty body', '', 400, err('You must provide a model parameter', 'missing_parameter', 'model'), 'unknown'],
    ['a non-string model', '{"model":5,"messages":[1]}', 400, err('You must provide a model parameter', 'missing_parameter', 'model'), 'unknown'],
    ['no messages', '{"model":"m"}', 400, err('You must provide a messages array', 'missing_parameter', 'messages'), 'm'],
    ['empty messages', '{"model":"m","messages":[]}', 400, err('You must provide a messages array', 'missing_parameter', 'messages'), 'm'],
    ['a non-boolean stream', '{"model":"m","messages":[1],"stream":"yes"}', 400, err("'stream' must be a boolean", 'invalid_parameter', 'stream'), 'm'],
    [
      'an unknown model',
      '{"model":"openai/nope","messages":[1]}',
      404,
      err("The model 'nope' does not exist or is not configured on this proxy", 'model_not_found', 'model'),
      'nope',
    ],
    ['a body over the limit', JSON.stringify({ model: 'm', messages: [{ content: 'x'.repeat(3000) }] }), 413, err('Request body exceeds the limit of 2048 bytes', 'request_too_large'), 'unknown'],
  ])('rejects %s with an OpenAI-shaped error and still records it', async (_name, body, status, expected, recordedModel) => {
    const before = t.sink.records.length;
    const res = await t.post('/v1/chat/completions', body);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.json()).toEqual(expected);
    await t.sink.waitFor(before + 1);
    const rec = t.sink.records.at(-1)!;
    expect(rec.outcome).toBe('error');
    expect(rec.statusCode).toBe(status);
    expect(rec.model).toBe(recordedModel);
    expect(rec.errors).toHaveLength(1);
    expect(rec.errors[0]!.message).toBe(expected.error.message);
    expect(rec.id).toBe(res.headers.get('x-request-id'));
  });

  it('rejects completions without prompt and embeddings without input', async () => {
    const c = await t.post('/v1/completions', { model: 'm' });
    expect(c.status).toBe(400);
    expect(await c.json()).toEqual(err('You must provide a prompt parameter', 'missing_parameter', 'prompt'));
    const e = await t.post('/v1/embeddings', { model: 'm' });
    expect(e.status).toBe(400);
    expect(await e.json()).toEqual(err('You must provide an input parameter', 'missing_parameter', 'input'));
  });

  it('refuses a model whose api key variable is unset, naming the variable', async () => {
    const res = await t.post('/v1/chat/completions', { model: 'needs-env', messages: [{ role: 'user', content: 'x' }] });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual(
      err("Model 'needs-env' cannot be used: environment variable(s) 'UNSET_TEST_KEY_XYZ' not set", 'model_misconfigured', null, 'server_error'),
    );
    expect(up.requests).toHaveLength(0);
    expect(t.log.lines.join('\n')).not.toContain('error ');
  });

  it('answers unknown paths and a disabled /v1/responses with 404 in the OpenAI shape', async () => {
    const res = await fetch(`${t.proxy.url}/v2/nothing`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual(err('Unknown path: /v2/nothing', 'unknown_url'));
    const r = await t.post('/v1/responses', { model: 'm', input: 'x' });
    expect(r.status).toBe(404);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('unknown_url');
  });

  it('counts requests in the realtime counters', () => {
    const snap = t.proxy.counters.snapshot();
    expect(snap.received).toBe(snap.served);
    expect(snap.ongoing).toBe(0);
    expect(snap.failed).toBe(snap.served - snap.succeeded - snap.cancelled);
  });
});

describe('request body limit without content-length', () => {
  it('counts a chunked upload and refuses it past the limit', async () => {
    const big = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'y'.repeat(5000) }] });
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        const bytes = new TextEncoder().encode(big);
        for (let i = 0; i < bytes.length; i += 1000) c.enqueue(bytes.subarray(i, i + 1000));
        c.close();
      },
    });
    const res = await fetch(`${t.proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('request_too_large');
    expect(up.requests).toHaveLength(0);
  });

  it('accepts a chunked upload within the limit', async () => {
    const small = new TextEncoder().encode(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }));
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(small.subarray(0, 10));
        c.enqueue(small.subarray(10));
        c.close();
      },
    });
    const res = await fetch(`${t.proxy.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(200);
    expect(up.requests.at(-1)!.rawBody.equals(Buffer.from(small))).toBe(true);
  });
});

describe('/api/usage without a reachable database', () => {
  it('answers 200 with realtime counters and historical status error (enabled) or unavailable (disabled)', async () => {
    const res = await fetch(`${t.proxy.url}/api/usage?hours=2`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { realtime: { received: number }; historical: Record<string, unknown> };
    expect(body.realtime.received).toBeGreaterThan(0);
    expect(body.historical).toMatchObject({ enabled: true, status: 'error', provider: 'database', message: 'the database has not been reachable since start-up' });
    const off = await startTestProxy({ model_list: [model('m', up.base('m'))], database: { enabled: false } });
    try {
      const u = (await (await fetch(`${off.proxy.url}/api/usage`)).json()) as { historical: Record<string, unknown> };
      expect(u.historical).toMatchObject({ enabled: false, status: 'unavailable', window: { bucket: 'hour', hours: 25 } });
    } finally {
      await off.close();
    }
  });

  it('rejects bad parameters with an OpenAI-shaped 400', async () => {
    const res = await fetch(`${t.proxy.url}/api/usage?bucket=week`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: { message: "'bucket' must be one of minute, hour, day", type: 'invalid_request_error', param: 'bucket', code: 'invalid_parameter' },
    });
  });
});
