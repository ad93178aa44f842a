import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createParserStream } from '../src/parsers/config.ts';
import { renderTranscript } from '../src/logging/transcript.ts';
import { startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.ts';
import { model, startTestProxy, type TestProxy } from './helpers/proxy.ts';
import {
  accumulate, completionChoices, completionFromStream, loadCases, parsersFrom, sseData,
} from './fixtures/parsers/corpus.ts';

const cases = new Map(loadCases().map((c) => [c.name, c]));
const both = cases.get('thinking-and-tool-call')!;
const swapCase = cases.get('swap-reasoning-to-content')!;
const decoder = new TextDecoder();

let up: FakeUpstream;
let t: TestProxy;
let client: OpenAI;

/** The recorded stream cut into uneven pieces (mid-event and mid-tag), one write each. */
function pieces(sse: string, size = 97): string[] {
  const out: string[] = [];
  for (let i = 0; i < sse.length; i += size) out.push(sse.slice(i, i + size));
  return out;
}

/** What the in-process transformer makes of the same bytes. */
function expectedStream(parsersBlock: Record<string, unknown>, sse: string): string {
  const s = createParserStream(parsersFrom(parsersBlock), null);
  const a = s.push(new TextEncoder().encode(sse));
  const b = s.end();
  return (a ? decoder.decode(a) : '') + (b ? decoder.decode(b) : '');
}

beforeAll(async () => {
  up = await startFakeUpstream();
  t = await startTestProxy({
    model_list: [
      model('glm', up.base('glm'), {}, { parsers: both.parsersBlock }),
      model('plain', up.base('plain'), {}, { parsers: { enabled: false } }),
      model('reasoner', up.base('reasoner')),
    ],
    proxy_settings: {
      logging: { files: false, log_parsed_response: true },
      parsers: { enabled: true, ...swapCase.parsersBlock },
    },
    database: { enabled: false },
  });
  client = new OpenAI({ baseURL: t.base, apiKey: 'sk-client', maxRetries: 0 });
});
afterAll(async () => {
  await t.close();
  await up.close();
});
afterEach(() => up.reset());

const ask = { messages: [{ role: 'user', content: 'weather in Berlin?' }] };

describe('response parsers through a served proxy', () => {
  it('streamed: the client gets the parsed stream; the record keeps both upstream and client bytes', async () => {
    up.script('glm', [{ kind: 'stream', events: pieces(both.sse) }]);
    const before = t.sink.records.length;
    const res = await t.post('/v1/chat/completions', { model: 'glm', stream: true, ...ask });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const text = await res.text();
    expect(text).toBe(expectedStream(both.parsersBlock, both.sse));
    expect(accumulate(sseData(text))).toEqual(both.expected);

    await t.sink.waitFor(before + 1);
    const rec = t.sink.records.at(-1)!;
    expect(rec.outcome).toBe('success');
    expect(rec.streamChunks.join('')).toBe(both.sse);
    expect(rec.parsed?.body).toBeNull();
    expect(rec.parsed?.chunks.join('')).toBe(text);
    expect(rec.finishReason).toBe('tool_calls');
    expect(rec.usage).toEqual({ prompt_tokens: 21, completion_tokens: 34, total_tokens: 55 });
    const log = renderTranscript(rec);
    expect(log).toContain(`--- stream chunks (${rec.streamChunks.length} captured, 0 dropped)\n${both.sse.slice(0, -1)}\n`);
    expect(log).toContain(`--- parsed stream (sent to the client; ${rec.parsed!.chunks.length} captured, 0 dropped)\n${text.slice(0, -1)}\n`);
  });

  it('non-streamed: the JSON body is rewritten the same way; the attempt keeps the upstream body', async () => {
    const upstreamBody = completionFromStream(both.sse);
    up.script('glm', [{ kind: 'status', status: 200, body: upstreamBody }]);
    const before = t.sink.records.length;
    const res = await t.post('/v1/chat/completions', { model: 'glm', ...ask });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(completionChoices(body)).toEqual(both.expected);
    expect(body).toEqual({
      ...upstreamBody,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Let me check.',
            reasoning_content: 'Need the weather.',
            tool_calls: [{ id: 'call_0_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Berlin"}' }, index: 0 }],
          },
          finish_reason: 'tool_calls',
        },
      ],
    });

    await t.sink.waitFor(before + 1);
    const rec = t.sink.records.at(-1)!;
    expect(JSON.parse(rec.attempts[0]!.responseBody!)).toEqual(upstreamBody);
    expect(JSON.parse(rec.responseBody!)).toEqual(upstreamBody);
    expect(JSON.parse(rec.parsed!.body!)).toEqual(body);
    expect(rec.finishReason).toBe('tool_calls');
    const log = renderTranscript(rec);
    expect(log).toContain('response body:\n{\n  "id": "chatcmpl-thinking-and-tool-call"');
    expect(log).toContain('--- parsed response (sent to the client)\n{\n  "id": "chatcmpl-thinking-and-tool-call"');
    expect(log).not.toContain('(sent to the client, below)');
  });

  it('the global block applies to a model without its own (swap reasoning into the content)', async () => {
    up.script('reasoner', [{ kind: 'stream', events: pieces(swapCase.sse, 61) }]);
    const text = await (await t.post('/v1/chat/completions', { model: 'reasoner', stream: true, ...ask })).text();
    expect(accumulate(sseData(text))).toEqual(swapCase.expected);
    up.script('reasoner', [{ kind: 'status', status: 200, body: completionFromStream(swapCase.sse) }]);
    const body = (await (await t.post('/v1/chat/completions', { model: 'reasoner', ...ask })).json()) as Record<string, unknown>;
    expect(completionChoices(body)).toEqual(swapCase.expected);
  });

  it('a model with parsers switched off gets the upstream bytes unchanged and no parsed capture', async () => {
    up.script('plain', [{ kind: 'stream', events: pieces(both.sse) }]);
    const before = t.sink.records.length;
    const text = await (await t.post('/v1/chat/completions', { model: 'plain', stream: true, ...ask })).text();
    expect(text).toBe(both.sse);
    await t.sink.waitFor(before + 1);
    const rec = t.sink.records.at(-1)!;
    expect(rec.parsed).toBeUndefined();
    expect(rec.finishReason).toBe('stop');
  });

  it('an unterminated tool call at the end of a stream without [DONE] is flushed as text in a final chunk', async () => {
    const c = cases.get('unterminated-tool-call')!;
    const noDone = c.sse.replace('data: [DONE]\n\n', '');
    up.script('glm', [{ kind: 'stream', events: pieces(noDone, 50) }]);
    const text = await (await t.post('/v1/chat/completions', { model: 'glm', stream: true, ...ask })).text();
    const data = sseData(text);
    expect(data).not.toContain('[DONE]');
    expect(accumulate(data)).toEqual(c.expected);
  });

  it('an upstream that drops mid-stream: held text is flushed, then the error event; the record is an error', async () => {
    const events = sseData(both.sse).slice(0, 3).map((d) => `data: ${d}\n\n`);
    up.script('glm', [{ kind: 'stream', events, thenDrop: true }]);
    const before = t.sink.records.length;
    const text = await (await t.post('/v1/chat/completions', { model: 'glm', stream: true, ...ask })).text();
    const data = sseData(text);
    // The third event ended inside a tag ("<th" + "ink>Need the weather.</th"): reasoning so far, then the flush.
    expect(accumulate(data.slice(0, -1))).toEqual([{ index: 0, content: null, reasoning_content: 'Need the weather.</th', finish_reason: null }]);
    expect(JSON.parse(data.at(-1)!)).toMatchObject({ error: { type: 'upstream_error', code: 'connection_error' } });
    await t.sink.waitFor(before + 1);
    expect(t.sink.records.at(-1)!.outcome).toBe('error');
  });
});

describe('the official openai client reads parsed tool calls', () => {
  const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
    { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
  ];

  it('non-streamed', async () => {
    up.script('glm', [{ kind: 'status', status: 200, body: completionFromStream(both.sse) }]);
    const res = await client.chat.completions.create({ model: 'glm', messages: [{ role: 'user', content: 'hi' }], tools });
    const choice = res.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBe('Let me check.');
    const call = choice.message.tool_calls![0]!;
    expect(call.type).toBe('function');
    if (call.type !== 'function') return;
    expect(call.id).toBe('call_0_0');
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Berlin' });
  });

  it('streamed, assembled by the SDK stream helper', async () => {
    up.script('glm', [{ kind: 'stream', events: pieces(both.sse, 13) }]);
    const stream = client.chat.completions.stream({ model: 'glm', messages: [{ role: 'user', content: 'hi' }], tools, stream: true });
    const final = await stream.finalChatCompletion();
    const choice = final.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBe('Let me check.');
    expect(choice.message.tool_calls).toEqual([
      { id: 'call_0_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Berlin"}' } },
    ]);
    expect(JSON.parse(choice.message.tool_calls![0]!.function.arguments)).toEqual({ city: 'Berlin' });
  });
});
