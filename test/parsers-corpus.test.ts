import { describe, expect, it } from 'vitest';
import { createParserStream, createPipeline, rewriteBody } from '../src/parsers/config.ts';
import type { ParsersConfig } from '../src/config/types.ts';
import {
  accumulate, completionChoices, completionFromStream, loadCases, parsersFrom, sseData, type ExpectedChoice,
} from './fixtures/parsers/corpus.ts';
import { createSseParser } from '../src/sse/parser.ts';
import { hasEscapedLt, noChoices, onlyEmptyValues, otherChoiceOrFinish, Pipeline, type Stage } from '../src/parsers/pipeline.ts';
import { ParserStream } from '../src/parsers/stream.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const cases = loadCases();

/** The parsed stream a client receives when the upstream's bytes arrive in `pieces`. */
function streamThrough(parsers: ParsersConfig, pieces: readonly Uint8Array[]): string {
  const stream = createParserStream(parsers, null);
  let out = '';
  for (const piece of pieces) {
    const bytes = stream.push(piece);
    if (bytes) out += decoder.decode(bytes);
  }
  const rest = stream.end();
  if (rest) out += decoder.decode(rest);
  return out;
}

/** The upstream's SSE text cut after each blank line (LF, CRLF or CR endings). */
function eventsOf(sse: string): string[] {
  return sse.split(/(?<=\r\n\r\n|\n\n|\r\r(?!\n))/).filter((e) => e !== '');
}

function nonStream(parsers: ParsersConfig, sse: string): ExpectedChoice[] {
  const body = encoder.encode(JSON.stringify(completionFromStream(sse)));
  const rewritten = rewriteBody(parsers, body);
  if (!rewritten) throw new Error('body not rewritten');
  return completionChoices(JSON.parse(decoder.decode(rewritten)) as Record<string, unknown>);
}

/** Content pieces → a minimal upstream stream (role chunk, one chunk per piece, finish, [DONE]). */
function contentStream(pieces: readonly string[], finish = 'stop'): string {
  const env = { id: 'chatcmpl-split', object: 'chat.completion.chunk', created: 1, model: 'm' };
  const ev = (delta: object, finish_reason: string | null) =>
    `data: ${JSON.stringify({ ...env, choices: [{ index: 0, delta, finish_reason }] })}\n\n`;
  return [ev({ role: 'assistant', content: '' }, null), ...pieces.map((p) => ev({ content: p }, null)), ev({}, finish), 'data: [DONE]\n\n'].join('');
}

describe('recorded streams: streamed and non-streamed answers are the same and as expected', () => {
  for (const c of cases) {
    it(c.name, () => {
      const bytes = encoder.encode(c.sse);
      const whole = streamThrough(c.parsers, [bytes]);
      expect(accumulate(sseData(whole))).toEqual(c.expected);
      expect(nonStream(c.parsers, c.sse)).toEqual(c.expected);

      // The same bytes split in two at every byte boundary, and one byte at a time, give the same stream.
      for (let k = 1; k < bytes.length; k++) {
        expect(streamThrough(c.parsers, [bytes.subarray(0, k), bytes.subarray(k)])).toBe(whole);
      }
      expect(streamThrough(c.parsers, [...bytes].map((b) => Uint8Array.of(b)))).toBe(whole);

      // One event per chunk, as tokens arrive (unchanged chunks go out as their own bytes), and
      // two or three events per chunk, where unchanged events are framed only beside changed ones.
      const evs = eventsOf(c.sse);
      for (const per of [1, 2, 3]) {
        const pieces: Uint8Array[] = [];
        for (let i = 0; i < evs.length; i += per) pieces.push(encoder.encode(evs.slice(i, i + per).join('')));
        const out = streamThrough(c.parsers, pieces);
        // An unchanged chunk keeps the upstream's line endings (CRLF here), a re-framed one has LF.
        if (c.sse.includes('\r')) expect(sseData(out), `${per} event(s) per chunk`).toEqual(sseData(whole));
        else expect(out, `${per} event(s) per chunk`).toBe(whole);
      }
    });
  }

  it('keeps the order of unchanged events, comments, named events and ids within a chunk', () => {
    const parsers = parsersFrom({ response: ['parse_unparsed'] });
    const env = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm' };
    const ev = (content: string) => `data: ${JSON.stringify({ ...env, choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
    const head = ev('a') + ev('b');
    const mixed = [
      `${ev('c')}: keep-alive\n\n${ev('d')}event: note\ndata: ${ev('e').slice(6)}id: 5\n${ev('f')}${ev('g')}`,
      `${ev('h')}${ev('<think>')}${ev('x')}`,
      `${ev('</think>')}: ping\n\n${ev('y')}data: [DONE]\n\n`,
    ];
    const pieces = [head, ...mixed].map((t) => encoder.encode(t));
    const out = streamThrough(parsers, pieces);
    // Unchanged chunks go out as they came; the others keep every event, comment and id in place.
    expect(out.startsWith(head + mixed[0])).toBe(true);
    const rest = out.slice(head.length + mixed[0]!.length);
    expect(rest.startsWith(ev('h'))).toBe(true);
    expect(rest.indexOf(': ping\n\n')).toBeGreaterThan(0);
    expect(rest.indexOf(': ping\n\n')).toBeLessThan(rest.indexOf('"y"'));
    const deltas = sseData(out).filter((d) => d !== '[DONE]').map((d) => (JSON.parse(d) as { choices: { delta: object }[] }).choices[0]!.delta);
    expect(deltas.filter((d) => Object.keys(d).length > 0)).toEqual([
      { content: 'a' }, { content: 'b' }, { content: 'c' }, { content: 'd' }, { content: 'e' }, { content: 'f' }, { content: 'g' },
      { content: 'h' }, { reasoning_content: 'x' }, { content: 'y' },
    ]);
    // Each piece alone, and the whole, split anywhere, give the same stream.
    const bytes = encoder.encode([head, ...mixed].join(''));
    const whole = streamThrough(parsers, [bytes]);
    for (let k = 1; k < bytes.length; k++) expect(streamThrough(parsers, [bytes.subarray(0, k), bytes.subarray(k)])).toBe(whole);
    expect(accumulate(sseData(out))).toEqual(accumulate(sseData(whole)));
  });

  it('every output event is well-formed and keeps the upstream envelope; usage and [DONE] come once, last', () => {
    for (const c of cases) {
      const data = sseData(streamThrough(c.parsers, [encoder.encode(c.sse)]));
      expect(data.at(-1), c.name).toBe('[DONE]');
      expect(data.filter((d) => d === '[DONE]'), c.name).toHaveLength(1);
      const upstream = JSON.parse(sseData(c.sse)[0]!) as Record<string, unknown>;
      const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Record<string, unknown>);
      for (const chunk of chunks) {
        expect(chunk, c.name).toMatchObject({
          id: upstream.id,
          object: 'chat.completion.chunk',
          created: 1767225600,
          model: 'glm-4.6',
          system_fingerprint: 'fp_rec1',
        });
      }
      const withUsage = chunks.filter((chunk) => chunk.usage !== null && chunk.usage !== undefined);
      expect(withUsage, c.name).toEqual([chunks.at(-1)]);
      expect(withUsage[0]!.usage).toEqual({ prompt_tokens: 21, completion_tokens: 34, total_tokens: 55 });
    }
  });
});

describe('tags split at every character boundary of the content', () => {
  const parsers = parsersFrom({ response: ['parse_unparsed'] });
  const content =
    ' <think>weigh it</think>Sure.<tool_call>get_weather<arg_key>city</arg_key><arg_value>Oslo</arg_value></tool_call>' +
    '<tool_call>{"name":"ping","arguments":"{\\"n\\":1}"}</tool_call> bye';
  const expected: ExpectedChoice[] = [
    {
      index: 0,
      content: ' Sure. bye',
      reasoning_content: 'weigh it',
      tool_calls: [
        { id: 'call_0_0', type: 'function', name: 'get_weather', arguments: '{"city":"Oslo"}' },
        { id: 'call_0_1', type: 'function', name: 'ping', arguments: '{"n":1}' },
      ],
      finish_reason: 'tool_calls',
    },
  ];

  it('gives the hand-written answer whole, streamed and non-streamed', () => {
    const sse = contentStream([content]);
    expect(accumulate(sseData(streamThrough(parsers, [encoder.encode(sse)])))).toEqual(expected);
    expect(nonStream(parsers, sse)).toEqual(expected);
  });

  it('gives the same answer for every two-piece split and for one character per chunk', () => {
    for (let k = 1; k < content.length; k++) {
      const sse = contentStream([content.slice(0, k), content.slice(k)]);
      expect(accumulate(sseData(streamThrough(parsers, [encoder.encode(sse)]))), `split at ${k}`).toEqual(expected);
    }
    const sse = contentStream([...content]);
    expect(accumulate(sseData(streamThrough(parsers, [encoder.encode(sse)])))).toEqual(expected);
  });

  it('an over-long tool block is let through as text at the same point however it is split', () => {
    const small = parsersFrom({ response: ['parse_unparsed'], max_held_chars: 8 });
    const text = 'a<tool_call>0123456789<think>r</think></tool_call>b';
    // Held 8 characters of the body, then scanning resumes as text: the think block inside is then parsed.
    const want: ExpectedChoice[] = [
      { index: 0, content: 'a<tool_call>0123456789</tool_call>b', reasoning_content: 'r', finish_reason: 'stop' },
    ];
    expect(nonStream(small, contentStream([text]))).toEqual(want);
    for (let k = 1; k < text.length; k++) {
      const sse = contentStream([text.slice(0, k), text.slice(k)]);
      expect(accumulate(sseData(streamThrough(small, [encoder.encode(sse)]))), `split at ${k}`).toEqual(want);
    }
  });
});

describe('fast paths: events no parser would change are not re-serialised', () => {
  const parse = parsersFrom({ response: ['parse_unparsed'] });
  // The spaces after the commas would not survive JSON.parse + JSON.stringify: their presence proves the text path.
  const ev = (delta: string, finish = 'null') => `data: {"id":"c", "choices":[{"index":0, "delta":${delta}, "finish_reason":${finish}}]}\n\n`;

  it('inside the think block a chunk only has its key renamed; after it, plain chunks pass as they came', () => {
    const input = [ev('{"role":"assistant","content":""}'), ev('{"content":"<think>a"}'), ev('{"content":"b c"}'), ev('{"content":"</think>Hi"}'), ev('{"content":" there"}')];
    const out = streamThrough(parse, input.map((e) => encoder.encode(e)));
    expect(sseData(out)).toEqual([
      // Before any content the choice has no state, and an empty content starts none: as it came.
      '{"id":"c", "choices":[{"index":0, "delta":{"role":"assistant","content":""}, "finish_reason":null}]}',
      // A tag event: its delta run through the stage and put back in place (the text path).
      '{"id":"c", "choices":[{"index":0, "delta":{"reasoning_content":"a"}, "finish_reason":null}]}',
      '{"id":"c", "choices":[{"index":0, "delta":{"reasoning_content":"b c"}, "finish_reason":null}]}',
      '{"id":"c", "choices":[{"index":0, "delta":{"content":"Hi"}, "finish_reason":null}]}',
      '{"id":"c", "choices":[{"index":0, "delta":{"content":" there"}, "finish_reason":null}]}',
    ]);
  });

  it('reasoning deltas inside an open think tag become content by renaming; a finish_reason takes the slow path', () => {
    const swap = parsersFrom({ response: ['swap_reasoning_content'] });
    const input = [ev('{"reasoning_content":"x"}'), ev('{"reasoning_content":"y"}'), ev('{"content":"z"}', '"stop"')];
    const out = streamThrough(swap, input.map((e) => encoder.encode(e)));
    expect(sseData(out)).toEqual([
      '{"id":"c","choices":[{"index":0,"delta":{"content":"<think>x"},"finish_reason":null}]}',
      '{"id":"c", "choices":[{"index":0, "delta":{"content":"y"}, "finish_reason":null}]}',
      '{"id":"c","choices":[{"index":0,"delta":{"content":"</think>\\nz"},"finish_reason":"stop"}]}',
    ]);
  });

  it('a chunk of whole events that no parser changes is handed on as the same bytes, framing included', () => {
    const stream = createParserStream(parse, null);
    expect(stream.push(encoder.encode(ev('{"content":"Hi"}')))).not.toBeNull();
    const crlf = encoder.encode('data:{"id":"c","choices":[{"index":0,"delta":{"content":" you"},"finish_reason":null}]}\r\n\r\n: ping\r\n\r\n');
    expect(stream.push(crlf)).toBe(crlf);
    // Half an event: held, and the chunk that completes it is re-encoded, not passed as it came.
    const half = encoder.encode('data: {"id":"c","choices":[{"index":0,"delta":{"content":"!"},');
    expect(stream.push(half)).toBeNull();
    const rest = encoder.encode('"finish_reason":null}]}\n\n');
    expect(decoder.decode(stream.push(rest)!)).toBe('data: {"id":"c","choices":[{"index":0,"delta":{"content":"!"},"finish_reason":null}]}\n\n');
  });

  it('finds a choice other than the first, a finish_reason and an escaped `<` however the JSON is spaced', () => {
    const choice = (index: string, finish: string) => `{"id":"c","choices":[{"index"${index},"delta":{"content":"a"},"finish_reason"${finish}}]}`;
    expect(otherChoiceOrFinish(choice(':0', ':null'))).toBe(false);
    expect(otherChoiceOrFinish(choice(' : 0', ' :\tnull'))).toBe(false);
    for (const index of [':1', ': 2', ' :\n9', ':10']) expect(otherChoiceOrFinish(choice(index, ':null')), index).toBe(true);
    for (const finish of [':"stop"', ': "length"', ' :\r\n"tool_calls"']) expect(otherChoiceOrFinish(choice(':0', finish)), finish).toBe(true);
    // Inside a string a quote is escaped: text that reads like the keys is not them.
    expect(otherChoiceOrFinish('{"choices":[{"index":0,"delta":{"content":"\\"index\\":1, \\"finish_reason\\":\\"stop\\""},"finish_reason":null}]}')).toBe(false);
    expect(hasEscapedLt('"\\u003cthink>"')).toBe(true);
    expect(hasEscapedLt('"\\u003Cthink>"')).toBe(true);
    expect(hasEscapedLt('"\\u003e \\u0030"')).toBe(false);
  });

  it('structured reasoning switches the think tag off even for an event that passes as it came', () => {
    // Once content has started, a reasoning delta needs no rewrite, but it still tells the stage
    // that this model thinks in reasoning_content: a later <think> is text.
    const input = [ev('{"content":"Hi"}'), ev('{"reasoning_content":"r"}'), ev('{"content":"<think>x</think>"}')];
    expect(sseData(streamThrough(parse, input.map((e) => encoder.encode(e))))).toEqual([
      '{"id":"c", "choices":[{"index":0, "delta":{"content":"Hi"}, "finish_reason":null}]}',
      // Re-serialised: the slow path, so that the stage sees it.
      '{"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"r"},"finish_reason":null}]}',
      '{"id":"c", "choices":[{"index":0, "delta":{"content":"<think>x</think>"}, "finish_reason":null}]}',
    ]);
  });

  it('an event without choices, and one that starts no choice, pass as they came', () => {
    expect(noChoices('{"id":"c","choices":[],"usage":{"total_tokens":3}}')).toBe(true);
    expect(noChoices('{"id":"c", "choices" : [ ] }')).toBe(true);
    expect(noChoices('{"usage":{"total_tokens":3}}')).toBe(true);
    expect(noChoices('{"choices":[{"index":0}]}')).toBe(false);
    expect(noChoices('{"choices":[],"x":{"choices":[{"index":0}]}}')).toBe(false);
    // A key may be spelled with escapes: data with a backslash is not judged.
    expect(noChoices('{"choic\\u0065s":[{"index":0}]}')).toBe(false);
    expect(onlyEmptyValues('{"delta":{"role":"assistant","content":""}}', 'content')).toBe(true);
    expect(onlyEmptyValues('{"delta":{"content" : null}}', 'content')).toBe(true);
    expect(onlyEmptyValues('{"delta":{"role":"assistant"}}', 'content')).toBe(true);
    expect(onlyEmptyValues('{"delta":{"content":"a"}}', 'content')).toBe(false);
    expect(onlyEmptyValues('{"delta":{"content":""},"x":{"content":"a"}}', 'content')).toBe(false);
    expect(onlyEmptyValues('{"delta":{"content":[{"type":"text","text":"a"}]}}', 'content')).toBe(false);
    expect(onlyEmptyValues('{"delta":{"content":"\\"a"}}', 'content')).toBe(false);
    // After a tool call every event with choices takes the slow path (finish_reason may change);
    // the usage chunk has none.
    const usage = 'data: {"id":"c", "choices":[], "usage":{"total_tokens":3}}\n\n';
    const input = [ev('{"content":"<tool_call>f<arg_key>k</arg_key><arg_value>v</arg_value></tool_call>"}'), usage];
    expect(sseData(streamThrough(parse, input.map((e) => encoder.encode(e)))).at(-1)).toBe(usage.slice(6, -2));
    // Structured tool calls in the opening event start the choice (and switch the tag off): not skipped.
    const call = '{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]}';
    const later = [ev(call), ev('{"content":"<tool_call>g</tool_call>"}')];
    expect(sseData(streamThrough(parse, later.map((e) => encoder.encode(e)))).at(-1)).toBe(
      '{"id":"c", "choices":[{"index":0, "delta":{"content":"<tool_call>g</tool_call>"}, "finish_reason":null}]}',
    );
  });

  it('a tag event whose delta is only its content is run on the text: the delta replaced, the envelope as it came', () => {
    const input = [
      ev('{"content":"<think>"}'),
      ev('{"content":"r\\n\\"q\\""}'),
      ev('{"content":"</think>\\u003ctool_call>f<arg_key>k</arg_key><arg_value>1</arg_value></tool_call>"}'),
      ev('{"content":""}', '"stop"'),
    ];
    expect(sseData(streamThrough(parse, input.map((e) => encoder.encode(e))))).toEqual([
      '{"id":"c", "choices":[{"index":0, "delta":{}, "finish_reason":null}]}',
      '{"id":"c", "choices":[{"index":0, "delta":{"reasoning_content":"r\\n\\"q\\""}, "finish_reason":null}]}',
      '{"id":"c", "choices":[{"index":0, "delta":{"tool_calls":[{"id":"call_0_0","type":"function","function":{"name":"f","arguments":"{\\"k\\":1}"},"index":0}]}, "finish_reason":null}]}',
      // A finish_reason takes the slow path (it may change).
      '{"id":"c","choices":[{"index":0,"delta":{"content":""},"finish_reason":"tool_calls"}]}',
    ]);
  });

  it('a tag event read by the byte lane runs on the text only when it is ASCII: the stage keeps text across events', () => {
    // The first piece alone in its chunk (the lane), the rest two events in one chunk (the full
    // path, UTF-8): a held tool body read as latin1 would come out as mojibake.
    const first = ev('{"content":"<tool_call>f<arg_key>city</arg_key><arg_value>Zürich"}');
    const rest = ev('{"content":"</arg_value></tool_call>"}') + ev('{"content":" ok"}');
    const out = streamThrough(parse, [encoder.encode(ev('{"content":"Hi"}')), encoder.encode(first), encoder.encode(rest)]);
    expect(accumulate(sseData(out))).toEqual([
      {
        index: 0,
        content: 'Hi ok',
        finish_reason: null,
        tool_calls: [{ id: 'call_0_0', type: 'function', name: 'f', arguments: '{"city":"Zürich"}' }],
      },
    ]);
  });

  it('a tag event read by the byte lane may decode an escape to any character: its answer is sent as UTF-8', () => {
    const input = [ev('{"role":"assistant","content":""}'), ev('{"content":"<think>\\u4e2d\\u00e9"}'), ev('{"content":"</think>ok"}')];
    expect(accumulate(sseData(streamThrough(parse, input.map((e) => encoder.encode(e)))))).toEqual([
      { index: 0, content: 'ok', reasoning_content: '中é', finish_reason: null },
    ]);
  });

  it('the text path declines what it cannot answer exactly, having changed nothing', () => {
    const declined = [
      // Not a delta of content alone, or not the first choice's only delta.
      '{"choices":[{"index":0,"delta":{"role":"assistant","content":"<think>"},"finish_reason":null}]}',
      '{"choices":[{"index":0,"delta":{"content":"<think>","role":"assistant"},"finish_reason":null}]}',
      '{"choices":[{"index":0,"delta":{ "content":"<think>"},"finish_reason":null}]}',
      '{"choices":[{"index":0,"delta":{"content":"<think>"}},{"index":0,"delta":{"content":"a"}}]}',
      '{"choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null},{"delta":{"content":"<think>"}}]}',
      '{"choices":[{"index":0.5,"delta":{"content":"<think>"},"finish_reason":null}]}',
      '{"choices":[{"index":-1,"delta":{"content":"<think>"},"finish_reason":null}]}',
      // Not valid JSON: a raw control character, a bad escape, a string that never ends.
      '{"choices":[{"index":0,"delta":{"content":"<think>\n"},"finish_reason":null}]}',
      '{"choices":[{"index":0,"delta":{"content":"<think>\\x"},"finish_reason":null}]}',
      '{"choices":[{"index":0,"delta":{"content":"<think>',
    ];
    for (const data of declined) {
      const pipeline = createPipeline(parse);
      expect(pipeline.fastPath(data), data).toBeNull();
      expect(pipeline.textPath(data), data).toBeNull();
      expect(pipeline.epoch, data).toBe(0);
    }
    // Only for the data `fastPath` last left to it.
    const pipeline = createPipeline(parse);
    const data = '{"choices":[{"index":0,"delta":{"content":"<think>"},"finish_reason":null}]}';
    expect(pipeline.textPath(data)).toBeNull();
    expect(pipeline.fastPath(data)).toBeNull();
    expect(pipeline.textPath(data)).toBe('{"choices":[{"index":0,"delta":{},"finish_reason":null}]}');
    expect(pipeline.epoch).toBe(1);
    expect(pipeline.textPath(data)).toBeNull();
  });

  it('a `<` escaped as \\u003c is still seen as a possible tag', () => {
    const input = [ev('{"content":"ok"}'), ev('{"content":"\\u003cthink>r\\u003c/think>s"}')];
    expect(accumulate(sseData(streamThrough(parse, input.map((e) => encoder.encode(e)))))).toEqual([
      { index: 0, content: 'oks', reasoning_content: 'r', finish_reason: null },
    ]);
  });
});

describe('the byte lane: a chunk of one whole `data:` event gives what the full SSE path gives', () => {
  // A seeded generator (mulberry32), so a failure names a stream that can be replayed.
  function random(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const configs = {
    parse: parsersFrom({ response: ['parse_unparsed'] }),
    swap: parsersFrom({ response: ['swap_reasoning_content'] }),
    toContent: parsersFrom({ response: ['swap_reasoning_content'], swap_reasoning_content: { mode: 'reasoning_to_content' } }),
    both: parsersFrom({ response: ['parse_unparsed', 'swap_reasoning_content'] }),
  };
  // JSON string bodies: tags whole and cut, UTF-8 of 2-4 bytes, escapes (an escaped `<`, a quote, a
  // trailing backslash), and texts that spell the keys the fast path searches for.
  const TEXTS = [' word', 'a', '思考', '🙂', 'é', '<think>', '</think>', '<thi', 'nk>', '</th', '<tool_call>f<arg_key>k</arg_key><arg_value>v</arg_value></tool_call>', 'x\\u003cthink>', '\\n\\n', 'q\\"uote', 'back\\\\', ' ', '', 'content', 'reasoning_content', 'tool_calls', 'finish_reason', ':', ' x"'];
  const ENV = '"id":"c","object":"chat.completion.chunk","created":1,"model":"m-é"';
  // A second envelope: a chunk of another shape (see EventShape) among those of the first.
  const ENV2 = '"id":"c","object":"chat.completion.chunk","created":2,"model":"m-é"';
  const ENV_SPACED = '"id": "c", "object": "chat.completion.chunk", "created": 3, "model": "m-é"';

  function stream(rnd: () => number): Uint8Array[] {
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const text = () => pick(TEXTS);
    const delta = () => pick([`{"content":"${text()}"}`, `{"content":"${text()}"}`, `{"reasoning_content":"${text()}"}`, '{"role":"assistant","content":""}']);
    const chunk = (index = 0, finish = 'null', env = ENV) => `{${env},"choices":[{"index":${index},"delta":${delta()},"finish_reason":${finish}}]}`;
    const kinds: (() => string)[] = [
      ...Array.from({ length: 8 }, () => () => `data: ${chunk()}\n\n`),
      () => `data: ${chunk(0, 'null', ENV2)}\n\n`,
      () => `data: {${ENV},"choices":[{"index":0,"delta":{"content":"${text()}"},"finish_reason":null}],"obfuscation":"${pick(['a', 'bc'])}"}\n\n`,
      () => `data: ${chunk(1)}\n\n`,
      () => `data: ${chunk(0, '"stop"')}\n\n`,
      () => `data: {"choices": [{"index": 0, "delta": {"content": "${text()}"}, "finish_reason": null}]}\n\n`,
      () => `id: ${pick(['7', '8'])}\ndata: ${chunk()}\n\n`,
      () => `event: note\ndata: ${chunk()}\n\n`,
      () => `retry: 10\ndata: ${chunk()}\n\n`,
      () => ': ping\n\n',
      () => `id: ${pick(['7', '9'])}\n\n`,
      // Mid-stream a BOM is not the stream's leading one: the line is an unknown field.
      () => `\uFEFFdata: ${chunk()}\n\n`,
      () => `data:${chunk()}\r\n\r\n`,
      () => `data:${chunk()}\n\n`,
      () => `data: ${chunk()}\r\r`,
      () => `data: {${ENV},\ndata: "choices":[]}\n\n`,
      () => 'data: not json\n\n',
      () => 'data: {"usage":{"total_tokens":3}}\n\n',
    ];
    // Now and then an empty read first: the SSE parse has then not started, a BOM would still be the leading one.
    const out: Uint8Array[] = rnd() < 0.2 ? [new Uint8Array(0)] : [];
    const n = 5 + Math.floor(rnd() * 25);
    for (let i = 0; i < n; i++) {
      const bytes = encoder.encode(pick(kinds)());
      // Now and then a byte that is not UTF-8 (a dangling lead byte) ends the chunk.
      out.push(rnd() < 0.05 ? Uint8Array.from([...bytes, 0xe6]) : bytes);
    }
    if (rnd() < 0.7) out.push(encoder.encode('data: [DONE]\n\n'));
    return out;
  }

  const CAPTURE = { maxChunks: 1 << 20, maxBytes: 1 << 30 };
  // A stage that never changes anything: with it even a stream's first chunk may take the lane.
  const unchanged: Stage = { process: () => null, canSkip: () => true, rewrite: () => null, finish: () => [] };
  const makers = {
    ...Object.fromEntries(Object.entries(configs).map(([name, p]) => [name, () => createParserStream(p, CAPTURE)])),
    unchanged: () => new ParserStream({ pipeline: new Pipeline([unchanged]), capture: CAPTURE }),
  };
  /**
   * The same configurations with every fast path off: each event is JSON-parsed, run through the
   * stages and re-serialised. What the fast paths send must mean the same (see `meaning`).
   */
  const slowMakers = Object.fromEntries(
    Object.entries(configs).map(([name, p]) => {
      const slow = (): ParserStream => {
        const pipeline = createPipeline(p);
        pipeline.fastPath = () => null;
        pipeline.textPath = () => null;
        return new ParserStream({ pipeline, capture: CAPTURE });
      };
      return [name, slow];
    }),
  );
  const isJson = (text: string) => {
    try {
      JSON.parse(text);
      return true;
    } catch {
      return false;
    }
  };
  /**
   * Events as their meaning: JSON data parsed (the fast paths keep the upstream's spacing and key
   * order, a re-serialisation does not), other data as it is.
   */
  const meaning = (events: readonly string[]) =>
    events.map((e) => {
      const [event, id, ...rest] = e.split('|');
      const data = rest.join('|');
      try {
        return { event, id, json: JSON.parse(data) as unknown };
      } catch {
        return { event, id, data };
      }
    });

  /** Every event the client can read (name, id, data), what the record keeps of it, and the finish_reason. */
  function through(make: () => ParserStream, pieces: readonly Uint8Array[]) {
    const s = make();
    const out: Uint8Array[] = [];
    for (const piece of pieces) {
      const bytes = s.push(piece);
      if (bytes) out.push(bytes);
    }
    const rest = s.end();
    if (rest) out.push(rest);
    const events = (chunks: readonly Uint8Array[]) => {
      const seen: string[] = [];
      const parser = createSseParser({ onEvent: (ev) => seen.push(`${ev.event}|${ev.id ?? ''}|${ev.data}`) });
      for (const c of chunks) parser.push(c);
      parser.end();
      return seen;
    };
    return { client: events(out), kept: events(s.parsed.chunks.map((c) => encoder.encode(c))), finish: s.finishReason };
  }

  /**
   * The client events, kept chunks and finish_reason of `events` are the same one event per chunk,
   * with `groupSize()` whole events per chunk (writes that arrive in one read), and with every
   * event cut in two (no chunk can take a lane: the full SSE path), under every configuration; and
   * they mean the same with every fast path off.
   */
  function sameThroughEverySplit(label: string, events: Uint8Array[], rnd: () => number, groupSize: () => number): void {
    const cut = events.flatMap((e) => {
      const k = 1 + Math.floor(rnd() * (e.length - 1));
      return [e.subarray(0, k), e.subarray(k)];
    });
    const grouped: Uint8Array[] = [];
    for (let i = 0; i < events.length; ) {
      const k = groupSize();
      grouped.push(Buffer.concat(events.slice(i, i + k)));
      i += k;
    }
    // The fast paths read an event by its text and take the upstream's JSON for valid: one that is
    // not (a raw quote or control character in a string) may be renamed where the slow path,
    // failing to parse it, relays it untouched. The slow path is held to the stream without them.
    const valid = events.filter((e) => sseData(Buffer.from(e).toString()).every((d) => d === '[DONE]' || !d.startsWith('{') || isJson(d)));
    for (const [name, make] of Object.entries(makers)) {
      const expected = through(make, cut);
      expect(through(make, events), `${label}, ${name}, one event per chunk`).toEqual(expected);
      expect(through(make, grouped), `${label}, ${name}, events grouped`).toEqual(expected);
      const slow = slowMakers[name];
      if (slow === undefined) continue;
      const fast = through(make, valid);
      const parsed = through(slow, valid);
      expect(meaning(fast.client), `${label}, ${name}, fast paths against none`).toEqual(meaning(parsed.client));
      expect(meaning(fast.kept), `${label}, ${name}, kept, fast paths against none`).toEqual(meaning(parsed.kept));
      expect(fast.finish, `${label}, ${name}, finish_reason, fast paths against none`).toBe(parsed.finish);
    }
  }

  it('for 400 generated streams under five parser configurations, and with the fast paths off', () => {
    for (let seed = 1; seed <= 400; seed++) {
      const rnd = random(seed);
      const events = stream(rnd);
      // One to four whole events per chunk.
      sameThroughEverySplit(`seed ${seed}`, events, rnd, () => 1 + Math.floor(rnd() * 4));
    }
  });

  /** A token stream as upstreams send them: one envelope, runs of content or reasoning deltas, now and then a tag. */
  function tokenStream(rnd: () => number): Uint8Array[] {
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    // Raw control bytes are not JSON, and a raw line break even cuts the SSE line: both must go the full way.
    const WORDS = [' the', ' answer', 'é', ' 思考', ' 🙂', '.', ',', ' 42', 'Hello', '', 'tab\tbed', 'line\nbreak'];
    const text = () => (rnd() < 0.85 ? pick(WORDS) : pick(TEXTS));
    // Python's json.dumps puts a space after each colon and comma: re-serialised JSON would not keep it.
    const env = () => pick([ENV, ENV, ENV, ENV2, ENV_SPACED]);
    const ev = (delta: string, finish = 'null', e = ENV) => `data: {${e},"choices":[{"index":0,"delta":${delta},"finish_reason":${finish}}],"usage":null}\n\n`;
    const out = [ev('{"role":"assistant","content":""}')];
    const runs = 1 + Math.floor(rnd() * 6);
    for (let r = 0; r < runs; r++) {
      const key = pick(['content', 'content', 'reasoning_content']);
      const e = env();
      const n = 1 + Math.floor(rnd() * 20);
      for (let i = 0; i < n; i++) {
        out.push(ev(`{"${key}":"${text()}"}`, 'null', e));
        // An id for the events from here on, in a block of its own: the next event must carry it.
        if (rnd() < 0.02) out.push(`id: ${pick(['7', '8'])}\n\n`);
      }
    }
    // The last token and the finish_reason in one event: the same head as a token's, another tail.
    if (rnd() < 0.8) out.push(ev(rnd() < 0.5 ? '{}' : `{"content":"${pick(WORDS)}"}`, pick(['"stop"', '"length"']), env()));
    if (rnd() < 0.5) out.push(`data: {${ENV},"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":9,"total_tokens":12}}\n\n`);
    if (rnd() < 0.8) out.push('data: [DONE]\n\n');
    // Some upstreams go on after [DONE]: what follows is relayed, not parsed.
    if (rnd() < 0.1) out.push(ev('{"content":" late"}'), ev('{"content":" later"}'));
    return out.map((e) => encoder.encode(e));
  }

  it('for 300 generated token streams, one event per chunk and several, under five parser configurations, and with the fast paths off', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = random(seed * 7919);
      // Half the chunks one event, the others two to four.
      sameThroughEverySplit(`token seed ${seed}`, tokenStream(rnd), rnd, () => (rnd() < 0.5 ? 1 : 2 + Math.floor(rnd() * 3)));
    }
  });

  it('one event per chunk: an unchanged event goes out as the same bytes, a renamed one keeps every other byte, UTF-8 included', () => {
    const s = createParserStream(configs.parse, null);
    const ev = (content: string) => encoder.encode(`data: {${ENV}, "choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]}\n\n`);
    s.push(ev(''));
    s.push(ev('<think>'));
    // The space after the comma would not survive JSON: only the key was renamed, on the bytes.
    expect(decoder.decode(s.push(ev('思考 🙂'))!)).toBe(`data: {${ENV}, "choices":[{"index":0,"delta":{"reasoning_content":"思考 🙂"},"finish_reason":null}]}\n\n`);
    s.push(ev('</think>'));
    s.push(ev('Hi'));
    const plain = ev(' é');
    expect(s.push(plain)).toBe(plain);
  });
});
