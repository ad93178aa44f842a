import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.ts';
import { model, startTestProxy, type TestProxy } from './helpers/proxy.ts';

let up: FakeUpstream;
let t: TestProxy;
let client: OpenAI;

beforeAll(async () => {
  up = await startFakeUpstream();
  t = await startTestProxy({
    model_list: [model('gpt-test', up.base('gpt')), model('broken', up.base('broken'))],
  });
  client = new OpenAI({ baseURL: t.base, apiKey: 'sk-client-key', maxRetries: 0 });
});
afterAll(async () => {
  await t.close();
  await up.close();
});
afterEach(() => up.reset());

describe('the official openai client against a served proxy', () => {
  it('chat.completions.create without streaming', async () => {
    const res = await client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.choices[0]!.message.content).toBe('Hello from fake upstream');
    expect(res.usage).toEqual({ prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 });
  });

  it('chat.completions.create with stream: true assembles the upstream text', async () => {
    up.script('gpt', [{ kind: 'ok', content: 'The quick brown fox jumps' }]);
    const stream = await client.chat.completions.create({
      model: 'openai/gpt-test',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: unknown = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('The quick brown fox jumps');
    expect(usage).toEqual({ prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 });
    expect(up.requestsFor('gpt')[0]!.headers.authorization).toBe('Bearer sk-test-gpt-test-secret');
  });

  it('completions, embeddings and models.list', async () => {
    const c = await client.completions.create({ model: 'gpt-test', prompt: 'Say hi' });
    expect(c.choices[0]!.text).toBe('Hello from fake upstream');
    const e = await client.embeddings.create({ model: 'gpt-test', input: ['a', 'b', 'c'], encoding_format: 'float' });
    expect(e.data).toHaveLength(3);
    expect(e.data[0]!.embedding).toHaveLength(8);
    const models = [];
    for await (const m of client.models.list()) models.push(m.id);
    expect(models).toEqual(['gpt-test', 'broken']);
  });

  it('an upstream error surfaces as a typed APIError with its status', async () => {
    up.script('broken', [{ kind: 'status', status: 401, body: { error: { message: 'bad key', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } } }]);
    const call = client.chat.completions.create({ model: 'broken', messages: [{ role: 'user', content: 'x' }] });
    await expect(call).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(call).rejects.toMatchObject({ status: 401, code: 'invalid_api_key', message: expect.stringContaining('bad key') });
  });

  it('proxy errors are typed too: unknown model is NotFoundError, bad input BadRequestError', async () => {
    await expect(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
    await expect(client.chat.completions.create({ model: 'gpt-test', messages: [] })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('a streamed upstream failure on every backend surfaces as an APIError', async () => {
    up.script('broken', [{ kind: 'sse-error', style: 'minimax' }]);
    const call = client.chat.completions.create({ model: 'broken', messages: [{ role: 'user', content: 'x' }], stream: true });
    await expect(call).rejects.toMatchObject({ status: 529, message: expect.stringContaining('MiniMax overloaded') });
  });
});
