import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classifySseEvent, mayCarryRecordData } from '../src/sse/inspect.ts';
import { createSseParser, type SseEvent, type SseParserOptions } from '../src/sse/parser.ts';

const enc = new TextEncoder();
const FIXTURES = [
  'openai-chat-with-usage.txt',
  'keepalive-comments-then-content.txt',
  'minimax-error-first.txt',
  'openai-error-first.txt',
  'string-error-first.txt',
  'event-error-first.txt',
  'responses-api-with-usage.txt',
  'anthropic-ping-then-content.txt',
  'spec-field-edge-cases.txt',
];

function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`./fixtures/sse/${name}`, import.meta.url)));
}

function parse(chunks: (Uint8Array | string)[], opts: Partial<SseParserOptions> = {}): SseEvent[] {
  const events: SseEvent[] = [];
  const p = createSseParser({ ...opts, onEvent: (e) => events.push(e) });
  for (const c of chunks) p.push(typeof c === 'string' ? enc.encode(c) : c);
  p.end();
  return events;
}

/** The fixtures are stored with LF; the same stream with other line endings must parse identically. */
function withEndings(bytes: Uint8Array, eol: '\n' | '\r\n' | '\r'): Uint8Array {
  const text = new TextDecoder().decode(bytes);
  return enc.encode(text.replaceAll('\n', eol));
}

function splitEvery(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

describe('createSseParser: WHATWG event-stream interpretation', () => {
  it('dispatches on blank lines with LF, CRLF, CR and mixed endings', () => {
    const expected = [
      { event: 'message', data: 'a' },
      { event: 'message', data: 'b' },
    ];
    expect(parse(['data: a\n\ndata: b\n\n'])).toEqual(expected);
    expect(parse(['data: a\r\n\r\ndata: b\r\n\r\n'])).toEqual(expected);
    expect(parse(['data: a\r\rdata: b\r\r'])).toEqual(expected);
    expect(parse(['data: a\r\n\ndata: b\r\r\n'])).toEqual(expected);
  });

  it('treats a CR ending one chunk and an LF starting the next as one line ending', () => {
    expect(parse(['data: a\r', '\ndata: b\n\n'])).toEqual([{ event: 'message', data: 'a\nb' }]);
    // An empty chunk in between must not lose the pending CR.
    expect(parse(['data: a\r', new Uint8Array(0), '\ndata: b\n\n'])).toEqual([{ event: 'message', data: 'a\nb' }]);
    // But CR then CR is two line endings.
    expect(parse(['data: a\r', '\rdata: b\n\n'])).toEqual([
      { event: 'message', data: 'a' },
      { event: 'message', data: 'b' },
    ]);
  });

  it('strips one BOM at stream start only, even when split across chunks', () => {
    expect(parse(['\uFEFFdata: x\n\n'])).toEqual([{ event: 'message', data: 'x' }]);
    const bytes = enc.encode('\uFEFFdata: x\n\n');
    expect(parse([bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2)])).toEqual([{ event: 'message', data: 'x' }]);
    // A second BOM becomes part of the field name, so the line is an unknown field.
    expect(parse(['\uFEFF\uFEFFdata: x\n\n'])).toEqual([]);
    expect(parse(['data: a\n\n\uFEFFdata: b\n\n'])).toEqual([{ event: 'message', data: 'a' }]);
  });

  it('handles comments, fields without colon, optional space, id, retry, unknown fields', () => {
    const events = parse([fixture('spec-field-edge-cases.txt')]);
    expect(events).toStrictEqual([
      { event: 'message', data: 'no-space\n two spaces keep one\n' },
      { event: 'custom', data: 'first line\nsecond line', id: '42', retry: 1500 },
      { event: 'message', data: '' },
      { event: 'message', data: 'after empty event name\nü€😀' },
    ]);
  });

  it('keeps the last event ID across events and ignores ids containing NUL', () => {
    const events = parse(['id: 1\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\nid\ndata: d\n\n']);
    expect(events.map((e) => e.id)).toEqual(['1', '1', '1', undefined]);
  });

  it('does not dispatch a block without data, and resets its event type', () => {
    expect(parse(['event: foo\n\ndata: x\n\n'])).toEqual([{ event: 'message', data: 'x' }]);
    expect(parse([': only a comment\n\n'])).toEqual([]);
  });

  it('discards an incomplete event at end of stream', () => {
    expect(parse(['data: a\n\ndata: b\n'])).toEqual([{ event: 'message', data: 'a' }]);
    expect(parse(['data: a\n\ndata: b'])).toEqual([{ event: 'message', data: 'a' }]);
    const p = createSseParser({ onEvent: () => expect.unreachable() });
    p.end();
    p.push(enc.encode('data: late\n\n'));
  });

  it('decodes multi-byte UTF-8 split across chunks', () => {
    const bytes = enc.encode('data: ü€😀 世界\n\n');
    for (let i = 1; i < bytes.length; i++) {
      expect(parse([bytes.subarray(0, i), bytes.subarray(i)])).toEqual([{ event: 'message', data: 'ü€😀 世界' }]);
    }
    expect(parse(splitEvery(bytes, 1))).toEqual([{ event: 'message', data: 'ü€😀 世界' }]);
  });

  it('reads an all-ASCII chunk through the decoder when the chunk before left half a character', () => {
    // The decoder holds the dangling lead byte; the next chunk must go through it, so the broken
    // character becomes U+FFFD instead of vanishing or turning into Ã.
    const head = enc.encode('data: a');
    const dangling = new Uint8Array([...head, 0xc3]);
    expect(parse([dangling, enc.encode('b\n\n')])).toEqual([{ event: 'message', data: 'a\uFFFDb' }]);
    expect(parse([enc.encode('data: é'), enc.encode('x\n\n')])).toEqual([{ event: 'message', data: 'éx' }]);
  });

  for (const name of FIXTURES) {
    for (const [label, eol] of [['LF', '\n'], ['CRLF', '\r\n'], ['CR', '\r']] as const) {
      it(`${name} (${label}) yields identical events however it is split`, () => {
        const bytes = withEndings(fixture(name), eol);
        const whole = parse([bytes]);
        expect(whole.length).toBeGreaterThan(0);
        expect(whole).toEqual(parse([fixture(name)]));
        for (let i = 1; i < bytes.length; i++) {
          expect(parse([bytes.subarray(0, i), bytes.subarray(i)])).toEqual(whole);
        }
        expect(parse(splitEvery(bytes, 1))).toEqual(whole);
        expect(parse(splitEvery(bytes, 7))).toEqual(whole);
      });
    }
  }
});

/** The spec's algorithm, literally, over a whole string: the oracle for the fuzz test below. */
function referenceParse(input: string): SseEvent[] {
  const text = input.startsWith('\uFEFF') ? input.slice(1) : input;
  const lines = text.split(/\r\n|\r|\n/);
  lines.pop(); // no line ending after it: not a line
  const out: SseEvent[] = [];
  let type = '';
  let buf = '';
  let lastId = '';
  let retry: number | undefined;
  for (const line of lines) {
    if (line === '') {
      if (buf !== '') {
        const e: SseEvent = { event: type || 'message', data: buf.endsWith('\n') ? buf.slice(0, -1) : buf };
        if (lastId) e.id = lastId;
        if (retry !== undefined) e.retry = retry;
        out.push(e);
      }
      type = '';
      buf = '';
      retry = undefined;
      continue;
    }
    if (line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') buf += `${value}\n`;
    else if (field === 'event') type = value;
    else if (field === 'id' && !value.includes('\0')) lastId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
  }
  return out;
}

describe('createSseParser: fuzz against the literal spec algorithm', () => {
  it('agrees on random streams with random endings and random splits', () => {
    let seed = 0x5eed;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pieces = [
      'data', 'data:', 'data: x', 'data:  y', 'data: é😀', 'event: e', 'event', 'id: 7', 'id', 'retry: 30', 'retry: x', ':c', ': k', 'foo: bar', '', '\uFEFF',
      // Field names read without slicing the line: near misses of the known names, colons late or absent.
      'dat: z', 'datax: y', 'data :x', 'Data: x', 'data: ', 'd:a', ':', 'eventful: e', 'even: e', 'ids: 3', 'i: 3', 'id:', 'id:  8', 'retry', 'retry:',
      'retryy: 5', 'abcdef', 'abcdefg: h', 'event:  two', 'data:data: x', 'data:: x',
    ];
    const eols = ['\n', '\r\n', '\r'];
    for (let round = 0; round < 500; round++) {
      let text = rand(4) === 0 ? '\uFEFF' : '';
      const n = 1 + rand(25);
      for (let i = 0; i < n; i++) text += (pieces[rand(pieces.length)] ?? '') + (eols[rand(3)] ?? '');
      const bytes = enc.encode(text);
      const cuts = Array.from({ length: rand(6) }, () => rand(bytes.length + 1)).sort((a, b) => a - b);
      const chunks: Uint8Array[] = [];
      let prev = 0;
      for (const c of [...cuts, bytes.length]) {
        chunks.push(bytes.subarray(prev, c));
        prev = c;
      }
      expect(parse(chunks), JSON.stringify(text)).toEqual(referenceParse(text));
    }
  });
});

describe('createSseParser: bounds', () => {
  it('drops an over-long line, reports it, and resyncs at the next line ending', () => {
    const input = enc.encode(`data: short\n\ndata: ${'x'.repeat(100)}\n\ndata: after\n\n`);
    const variants = [[input], splitEvery(input, 1), splitEvery(input, 5), splitEvery(input, 64)];
    for (const chunks of variants) {
      let overflows = 0;
      const events = parse(chunks, { maxLineBytes: 32, onOverflow: () => overflows++ });
      expect(events.map((e) => e.data)).toEqual(['short', 'after']);
      expect(overflows).toBe(1);
    }
  });

  it('measures lines in UTF-8 bytes, exactly at the limit', () => {
    // 'data: ' (6 bytes) + 13 × 'é' (26 bytes) = 32 bytes.
    const at = `data: ${'é'.repeat(13)}\n\n`;
    const over = `data: ${'é'.repeat(13)}x\n\n`;
    for (const size of [1, 3, 100]) {
      expect(parse(splitEvery(enc.encode(at), size), { maxLineBytes: 32 })).toHaveLength(1);
      expect(parse(splitEvery(enc.encode(over), size), { maxLineBytes: 32 })).toHaveLength(0);
    }
  });

  it('drops the whole event an over-long field line belongs to, but not for an over-long comment', () => {
    expect(parse([`data: a\ndata: ${'x'.repeat(100)}\ndata: b\n\ndata: c\n\n`], { maxLineBytes: 32 })).toEqual([
      { event: 'message', data: 'c' },
    ]);
    expect(parse([`: ${'x'.repeat(100)}\ndata: kept\n\n`], { maxLineBytes: 32 })).toEqual([{ event: 'message', data: 'kept' }]);
  });

  it('bounds the data buffer of one event', () => {
    let overflows = 0;
    const lines = 'data: 0123456789\n'.repeat(20);
    const events = parse([`${lines}\ndata: ok\n\n`], { maxLineBytes: 64, maxEventBytes: 100, onOverflow: () => overflows++ });
    expect(events).toEqual([{ event: 'message', data: 'ok' }]);
    expect(overflows).toBe(1);
  });

  it('keeps nothing of an endless line and resyncs after it', () => {
    let overflows = 0;
    const events: string[] = [];
    const p = createSseParser({ onEvent: (e) => events.push(e.data), maxLineBytes: 1024, onOverflow: () => overflows++ });
    const block = enc.encode('y'.repeat(64 * 1024));
    for (let i = 0; i < 400; i++) p.push(block); // 25 MiB without a line ending
    // The block the over-long line opened is dropped; the next one is parsed normally.
    p.push(enc.encode('\ndata: same block\n\ndata: resynced\n\n'));
    expect(events).toEqual(['resynced']);
    expect(overflows).toBe(1);
  });
});

const ev = (data: string, event = 'message'): SseEvent => ({ event, data });

describe('classifySseEvent', () => {
  it('reads usage and finish_reason from an OpenAI stream', () => {
    const events = parse([fixture('openai-chat-with-usage.txt')]);
    const classes = events.map(classifySseEvent);
    expect(classes.map((c) => c.kind)).toEqual(['data', 'data', 'data', 'data', 'data', 'done']);
    expect(classes.every((c) => c.kind !== 'data' || c.hasContent)).toBe(true);
    const finish = classes.map((c) => (c.kind === 'data' ? c.finishReason : null));
    expect(finish).toEqual([null, null, null, 'stop', null, null]);
    const last = classes[4];
    expect(last?.kind === 'data' && last.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 6, total_tokens: 15 });
  });

  it('reads response.usage from the Responses API', () => {
    const classes = parse([fixture('responses-api-with-usage.txt')]).map(classifySseEvent);
    const usage = classes.map((c) => (c.kind === 'data' ? c.usage : 'x'));
    expect(usage.slice(0, 2)).toEqual([null, null]);
    expect(usage[2]).toMatchObject({ input_tokens: 37, output_tokens: 11, total_tokens: 48 });
  });

  it('formats a MiniMax-style error like the original', () => {
    const [first] = parse([fixture('minimax-error-first.txt')]);
    expect(classifySseEvent(first!)).toEqual({
      kind: 'error',
      message:
        'SSE stream error: The server cluster is currently under high load. Please retry after a short wait and thank you for your patience. (2064) (http_code=529)',
      code: '529',
      type: 'overloaded_error',
      httpStatus: 529,
    });
    expect(classifySseEvent(ev('{"type":"error","error":{}}'))).toMatchObject({ message: 'SSE stream error: unknown error (http_code=unknown)' });
    expect(classifySseEvent(ev('{"type":"error"}'))).toMatchObject({ message: 'SSE stream error: unknown error (http_code=unknown)' });
  });

  it('formats an OpenAI-style error like the original', () => {
    const [first] = parse([fixture('openai-error-first.txt')]);
    expect(classifySseEvent(first!)).toEqual({
      kind: 'error',
      message:
        'SSE stream error: Rate limit reached for gpt-4o in organization org-xyz on tokens per min (TPM): Limit 30000, Used 30000, Requested 512. (type=tokens)',
      code: 'rate_limit_exceeded',
      type: 'tokens',
      httpStatus: null,
    });
    expect(classifySseEvent(ev('{"error":{"code":429}}'))).toMatchObject({
      message: 'SSE stream error: {"code":429} (type=unknown)',
      httpStatus: 429,
    });
  });

  it('treats a string error as an error instead of crashing', () => {
    const [first] = parse([fixture('string-error-first.txt')]);
    expect(classifySseEvent(first!)).toMatchObject({ kind: 'error', message: 'SSE stream error: upstream connection reset (http_code=unknown)' });
    expect(classifySseEvent(ev('{"error":"bad gateway"}'))).toMatchObject({ kind: 'error', message: 'SSE stream error: bad gateway (type=unknown)' });
    expect(classifySseEvent(ev('{"error":null,"choices":[]}')).kind).toBe('data');
  });

  it('treats `event: error` as an error, JSON or not', () => {
    const [first] = parse([fixture('event-error-first.txt')]);
    expect(classifySseEvent(first!)).toMatchObject({
      kind: 'error',
      message: 'SSE stream error: Internal server error (http_code=unknown)',
      code: 502,
    });
    expect(classifySseEvent(ev('boom', 'error'))).toMatchObject({ kind: 'error', message: 'SSE stream error: boom (type=unknown)' });
  });

  it('recognises a Responses API error event and a failed response', () => {
    expect(classifySseEvent(ev('{"type":"error","code":"server_error","message":"Something went wrong","param":null}', 'error'))).toMatchObject({
      kind: 'error',
      message: 'SSE stream error: Something went wrong (http_code=unknown)',
      code: 'server_error',
    });
    const failed = '{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"boom"}}}';
    expect(classifySseEvent(ev(failed, 'response.failed'))).toMatchObject({ kind: 'error', message: 'SSE stream error: boom (type=server_error)' });
  });

  it('handles [DONE], non-JSON data and pings', () => {
    expect(classifySseEvent(ev('[DONE]'))).toEqual({ kind: 'done' });
    expect(classifySseEvent(ev(' [DONE] '))).toEqual({ kind: 'done' });
    expect(classifySseEvent(ev('hello'))).toEqual({ kind: 'data', json: null, usage: null, finishReason: null, hasContent: true });
    expect(classifySseEvent(ev('{not json'))).toMatchObject({ kind: 'data', json: null, hasContent: true });
    expect(classifySseEvent(ev('{"type": "ping"}', 'ping'))).toEqual({ kind: 'other' });
  });

  it('bounds the error message', () => {
    const c = classifySseEvent(ev(JSON.stringify({ error: { message: 'm'.repeat(10_000) } })));
    expect(c.kind === 'error' && c.message.length).toBeLessThan(2100);
  });

  it('mayCarryRecordData never hides an event that carries something', () => {
    for (const name of FIXTURES) {
      for (const e of parse([fixture(name)])) {
        const c = classifySseEvent(e);
        const matters = c.kind === 'done' || c.kind === 'error' || (c.kind === 'data' && (c.usage !== null || c.finishReason !== null));
        if (matters) expect(mayCarryRecordData(e), `${name}: ${e.data}`).toBe(true);
      }
    }
    expect(mayCarryRecordData(ev('{"choices":[{"delta":{"content":"x"},"finish_reason":null}]}'))).toBe(false);
    expect(mayCarryRecordData(ev('{"choices":[{"delta":{"content":"x"},"finish_reason": null}],"usage":null}'))).toBe(false);
    expect(mayCarryRecordData(ev('{"choices":[],"usage" : {"total_tokens":3}}'))).toBe(true);
    expect(mayCarryRecordData(ev('{"x":1}', 'error'))).toBe(true);
    expect(mayCarryRecordData(ev('{"choices":[{"delta":{},"finish_reason" : "stop"}]}'))).toBe(true);
  });
});
