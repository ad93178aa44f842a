import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readUntilFirstEvent, type SseResume } from '../src/sse/first-event.ts';
import type { SseErrorInfo } from '../src/sse/inspect.ts';
import type { SseEvent } from '../src/sse/parser.ts';
import { createSseTap, type SseTapOptions } from '../src/sse/tap.ts';
import { includesQuoted, indexOfJoined, indexOfQuoted } from '../src/sse/text-search.ts';

const enc = new TextEncoder();

function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`./fixtures/sse/${name}`, import.meta.url)));
}

function splitEvery(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

function source(chunks: (Uint8Array | string)[]): ReadableStream<Uint8Array> {
  const queue = chunks.map((c) => (typeof c === 'string' ? enc.encode(c) : c));
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = queue.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) out.push(r.value);
  return out;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(chunks));
}

async function runTap(chunks: Uint8Array[], opts: SseTapOptions = {}) {
  const tap = createSseTap(opts);
  const out = await collect(source(chunks).pipeThrough(tap.stream));
  return { tap, out };
}

describe('createSseTap', () => {
  it('forwards the same chunk objects, in the same boundaries, and records usage and finish_reason', async () => {
    const input = fixture('openai-chat-with-usage.txt');
    for (const size of [1, 13, 100, input.length]) {
      const chunks = splitEvery(input, size);
      const { tap, out } = await runTap(chunks, { maxChunks: 1 << 16 });
      expect(out).toHaveLength(chunks.length);
      out.forEach((c, i) => expect(c).toBe(chunks[i]));
      expect(concat(out)).toEqual(input);
      expect(tap.state.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 6, total_tokens: 15 });
      expect(tap.state.finishReason).toBe('stop');
      expect(tap.state.sawDone).toBe(true);
      expect(tap.state.bytes).toBe(input.length);
      expect(tap.state.events).toBe(6);
      expect(tap.state.errors).toEqual([]);
      // Captured text is the stream, with multi-byte characters intact whatever the split.
      expect(tap.state.chunks.join('')).toBe(new TextDecoder().decode(input));
    }
  });

  it('hands a chunk on before its event is complete', async () => {
    const tap = createSseTap();
    const writer = tap.stream.writable.getWriter();
    const reader = tap.stream.readable.getReader();
    void writer.write(enc.encode('data: {"choices":[{"delta":{"content":"par'));
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: {"choices":[{"delta":{"content":"par');
    expect(tap.state.events).toBe(0);
    void writer.write(enc.encode('tial"},"finish_reason":"stop"}]}\n\n'));
    await reader.read();
    expect(tap.state.finishReason).toBe('stop');
    void writer.close();
    expect((await reader.read()).done).toBe(true);
  });

  it('keeps the last usage and the first finish_reason', async () => {
    const { tap } = await runTap([
      enc.encode('data: {"choices":[{"finish_reason":"length"}],"usage":{"total_tokens":1}}\n\n'),
      enc.encode('data: {"choices":[{"finish_reason":"stop"}],"usage":{"total_tokens":2}}\n\n'),
      enc.encode('data: {"choices":[],"usage":null}\n\n'),
    ]);
    expect(tap.state.usage).toEqual({ total_tokens: 2 });
    expect(tap.state.finishReason).toBe('length');
  });

  it('reads usage from the Responses API and Anthropic message_delta', async () => {
    const r = await runTap([fixture('responses-api-with-usage.txt')]);
    expect(r.tap.state.usage).toMatchObject({ input_tokens: 37, output_tokens: 11 });
    const a = await runTap([fixture('anthropic-ping-then-content.txt')]);
    expect(a.tap.state.usage).toEqual({ output_tokens: 15 });
  });

  it('records error events through onError, bounded', async () => {
    const seen: SseErrorInfo[] = [];
    const err = 'data: {"error":{"message":"late failure","type":"server_error"}}\n\n';
    const { tap, out } = await runTap([enc.encode(`data: {"choices":[]}\n\n${err}${err}${err}`)], {
      maxErrors: 2,
      onError: (e) => seen.push(e),
    });
    expect(out).toHaveLength(1);
    expect(tap.state.errors.map((e) => e.message)).toEqual([
      'SSE stream error: late failure (type=server_error)',
      'SSE stream error: late failure (type=server_error)',
    ]);
    expect(seen).toHaveLength(2);
    expect(tap.state.errorsDropped).toBe(1);
  });

  it('bounds the capture by count and bytes, keeping a prefix and counting the rest', async () => {
    const chunks = Array.from({ length: 10 }, (_, i) => enc.encode(`: ${i}\n`)); // 4 bytes each
    expect((await runTap(chunks, { maxChunks: 3 })).tap.state).toMatchObject({ chunks: [': 0\n', ': 1\n', ': 2\n'], chunksDropped: 7 });
    expect((await runTap(chunks, { maxChunkBytes: 10 })).tap.state).toMatchObject({ chunks: [': 0\n', ': 1\n'], chunksDropped: 8 });
    const big = [enc.encode(': 0\n'), enc.encode(`: ${'x'.repeat(20)}\n`), enc.encode(': 2\n')];
    expect((await runTap(big, { maxChunkBytes: 10 })).tap.state).toMatchObject({ chunks: [': 0\n'], chunksDropped: 2, bytes: 31 });
  });

  it('captures the text as sent, BOM included and characters split anywhere kept whole; a cut one ends as U+FFFD', async () => {
    const text = '\uFEFFdata: ü€😀 世界\n\ndata: plain\n\n';
    const bytes = enc.encode(text);
    for (let i = 1; i < bytes.length; i++) {
      const { tap } = await runTap([bytes.subarray(0, i), bytes.subarray(i)]);
      expect(tap.state.chunks.join(''), `split at ${i}`).toBe(text);
    }
    expect((await runTap(splitEvery(bytes, 1))).tap.state.chunks.join('')).toBe(text);
    const cut = bytes.subarray(0, enc.encode('\uFEFFdata: ü€').length + 2); // half of the 4-byte 😀
    expect((await runTap([cut])).tap.state.chunks.join('')).toBe('\uFEFFdata: ü€\uFFFD');
  });

  it('calls onFirstEvent once, and survives throwing callbacks', async () => {
    const firsts: SseEvent[] = [];
    const { tap, out } = await runTap([fixture('openai-error-first.txt')], {
      onFirstEvent: (e) => {
        firsts.push(e);
        throw new Error('caller bug');
      },
      onError: () => {
        throw new Error('caller bug');
      },
    });
    expect(firsts).toHaveLength(1);
    expect(tap.state.errors).toHaveLength(1);
    expect(tap.state.sawDone).toBe(true);
    expect(concat(out)).toEqual(fixture('openai-error-first.txt'));
  });

  it('keeps forwarding when side inspection fails', async () => {
    const broken: SseResume = {
      chunks: [enc.encode('data: held\n\n')],
      events: [],
      overflows: 0,
      adopt: () => {
        throw new Error('boom');
      },
    };
    const tap = createSseTap({ resume: broken });
    const out = await collect(source(['data: a\n\n', 'data: b\n\n']).pipeThrough(tap.stream));
    expect(new TextDecoder().decode(concat(out))).toBe('data: held\n\ndata: a\n\ndata: b\n\n');
    expect(tap.state.inspectFailed).toBe(true);
    expect(tap.state.bytes).toBe(30);
  });
});

describe('readUntilFirstEvent', () => {
  it('skips keep-alive comments and stops at the first content event', async () => {
    const chunks = [': keep-alive\n\n', ': keep-alive\n', '\ndata: {"choices":[{"delta":{"role":"assistant"}}]}\n', '\n', 'data: more\n\n'];
    const reader = source(chunks).getReader();
    const r = await readUntilFirstEvent(reader, { maxBytes: 1 << 16 });
    expect(r.first).toBe('content');
    expect(r.chunks.map((c) => new TextDecoder().decode(c))).toEqual(chunks.slice(0, 4));
    expect(r.bytes).toBe(chunks.slice(0, 4).join('').length);
    expect(r.error).toBeUndefined();
    expect((await reader.read()).value).toEqual(enc.encode('data: more\n\n'));
  });

  it('reports an error before any content', async () => {
    const r = await readUntilFirstEvent(source([': ping\n\n', fixture('minimax-error-first.txt')]).getReader(), { maxBytes: 1 << 16 });
    expect(r.first).toBe('error');
    expect(r.error?.message).toMatch(/^SSE stream error: The server cluster .* \(http_code=529\)$/);
    expect(r.error?.httpStatus).toBe(529);
    expect(r.chunks).toHaveLength(2);
  });

  it('waits past pings; reports [DONE], EOF and overflow', async () => {
    const ping = await readUntilFirstEvent(source([fixture('anthropic-ping-then-content.txt')]).getReader(), { maxBytes: 1 << 16 });
    expect(ping.first).toBe('content');
    expect((await readUntilFirstEvent(source(['data: [DONE]\n\n']).getReader(), { maxBytes: 100 })).first).toBe('done');
    const eof = await readUntilFirstEvent(source([': a\n\n', 'data: unterminated']).getReader(), { maxBytes: 100 });
    expect(eof.first).toBe('eof');
    expect(eof.chunks).toHaveLength(2);
    const over = await readUntilFirstEvent(source(Array.from({ length: 50 }, () => ': keep-alive\n\n')).getReader(), { maxBytes: 64 });
    expect(over.first).toBe('overflow');
    expect(over.chunks).toHaveLength(5); // 14 bytes each: stops at the first chunk reaching 64
  });

  it('rejects when the signal aborts while waiting', async () => {
    const stalled = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
    const ac = new AbortController();
    const p = readUntilFirstEvent(stalled.getReader(), { maxBytes: 100, signal: ac.signal });
    ac.abort(new Error('client gone'));
    await expect(p).rejects.toThrow('client gone');
  });

  it('hands its parser to the tap: held chunks go out first and are parsed once', async () => {
    const input = fixture('keepalive-comments-then-content.txt');
    for (const size of [1, 9, 64, input.length]) {
      const reader = source(splitEvery(input, size)).getReader();
      const first = await readUntilFirstEvent(reader, { maxBytes: 1 << 16 });
      expect(first.first).toBe('content');
      const firsts: SseEvent[] = [];
      const tap = createSseTap({ resume: first.resume, onFirstEvent: (e) => firsts.push(e) });
      const rest = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const r = await reader.read();
          if (r.done) controller.close();
          else controller.enqueue(r.value);
        },
      });
      const out = await collect(rest.pipeThrough(tap.stream));
      expect(out.slice(0, first.chunks.length)).toEqual(first.chunks);
      expect(concat(out)).toEqual(input);
      expect(tap.state.events).toBe(3);
      expect(firsts).toHaveLength(1);
      expect(tap.state.finishReason).toBe('length');
      expect(tap.state.usage).toEqual({ prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 });
      expect(tap.state.sawDone).toBe(true);
      expect(tap.state.bytes).toBe(input.length);
      expect(tap.state.chunks.join('')).toBe(new TextDecoder().decode(input));
      expect(() => first.resume.adopt({ onEvent: () => {} })).toThrow();
    }
  });
});

describe('text searches of the per-event fast paths', () => {
  it('indexOfJoined / indexOfQuoted / includesQuoted find what indexOf finds, from any start', () => {
    const alphabet = ['"', 'e', 'r', 'o', 'u', 's', 'a', 'g', ':', ' ', 'x'];
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let t = 0; t < 2000; t++) {
      const text = Array.from({ length: rand(40) }, () => alphabet[rand(alphabet.length)]).join('');
      for (const rest of ['rror', 'usage"', 'e', 'ss"', '"']) {
        for (let from = 0; from <= text.length + 1; from++) {
          expect(indexOfJoined(text, 101, rest, from), `${text} e${rest} ${from}`).toBe(text.indexOf(`e${rest}`, from));
          expect(indexOfQuoted(text, rest, from), `${text} "${rest} ${from}`).toBe(text.indexOf(`"${rest}`, from));
        }
        expect(includesQuoted(text, rest)).toBe(text.includes(`"${rest}`));
      }
    }
  });
});
