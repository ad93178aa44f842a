import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ParsersConfig } from '../src/config/types.ts';
import { createParserStream } from '../src/parsers/config.ts';
import { Pipeline, type Stage } from '../src/parsers/pipeline.ts';
import { ParserStream, type ParserStreamOptions } from '../src/parsers/stream.ts';
import { readUntilFirstEvent } from '../src/sse/first-event.ts';
import { createSseTap, type SseTapState } from '../src/sse/tap.ts';
import { loadCases, parsersFrom } from './fixtures/parsers/corpus.ts';

// On a parsed stream the SSE tap takes its events from the parser stream instead of splitting the
// same bytes again (src/upstream/sse-relay.ts). These tests hold that to the tap's own parser:
// the record must come out the same, at every split of the upstream bytes.

type Inspector = ParserStreamOptions['inspector'];

const encoder = new TextEncoder();
const PARSE = parsersFrom({ response: ['parse_unparsed'] });
const TAP = { maxChunks: 1 << 16, maxChunkBytes: 1 << 24 };

function readerOf(pieces: readonly Uint8Array[]): ReadableStreamDefaultReader<Uint8Array> {
  const queue = [...pieces];
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = queue.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  }).getReader();
}

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) out.push(r.value);
  return out;
}

/** The tap as the plain relay runs it: resumed from the first-event check, its own parser after. */
async function ownParser(pieces: readonly Uint8Array[]): Promise<SseTapState> {
  const reader = readerOf(pieces);
  const first = await readUntilFirstEvent(reader);
  const tap = createSseTap({ ...TAP, resume: first.resume });
  for (const chunk of await drain(reader)) tap.push(chunk);
  tap.end();
  return tap.state;
}

/** The tap as the parsed relay runs it: fed by the parser stream, which also sees the held chunks. */
async function shared(
  pieces: readonly Uint8Array[],
  makeStream: (inspector: Inspector) => ParserStream,
): Promise<{ state: SseTapState; out: Uint8Array[] }> {
  const reader = readerOf(pieces);
  const first = await readUntilFirstEvent(reader);
  const tap = createSseTap({ ...TAP, resume: first.resume, sharedParser: true });
  const stream = makeStream({ feed: tap.feed!, after: first.chunks.length });
  const out: Uint8Array[] = [];
  const send = (bytes: Uint8Array | null): void => {
    if (bytes) out.push(bytes);
  };
  for (const chunk of first.chunks) send(stream.push(chunk));
  // The relay's order: the observer sees a chunk, then the transform.
  for (const chunk of await drain(reader)) {
    tap.push(chunk);
    send(stream.push(chunk));
  }
  tap.end();
  send(stream.end());
  return { state: tap.state, out };
}

const withParsers = (p: ParsersConfig) => (inspector: Inspector) =>
  createParserStream(p, null, inspector);

/** Every split in two, one byte at a time, whole, and one event per chunk (the byte lane's case). */
function splits(bytes: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [[bytes], [...bytes].map((b) => Uint8Array.of(b)), eventChunks(bytes)];
  for (let k = 1; k < bytes.length; k++) out.push([bytes.subarray(0, k), bytes.subarray(k)]);
  return out;
}

/** The bytes cut after each blank line (LF, CRLF or CR endings). */
function eventChunks(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let from = 0;
  for (let i = 1; i < bytes.length; i++) {
    const lf = bytes[i] === 10 && (bytes[i - 1] === 10 || (bytes[i - 1] === 13 && bytes[i - 2] === 10));
    const cr = bytes[i] === 13 && bytes[i - 1] === 13 && bytes[i + 1] !== 10;
    if (lf || cr) {
      out.push(bytes.subarray(from, i + 1));
      from = i + 1;
    }
  }
  if (from < bytes.length) out.push(bytes.subarray(from));
  return out;
}

async function expectSameState(name: string, bytes: Uint8Array, p: ParsersConfig): Promise<void> {
  for (const pieces of splits(bytes)) {
    const expected = await ownParser(pieces);
    const { state } = await shared(pieces, withParsers(p));
    expect(state, `${name} in ${pieces.length} piece(s), first ${pieces[0]!.length} bytes`).toEqual(expected);
  }
}

const sseFixtures = readdirSync(new URL('./fixtures/sse/', import.meta.url)).map((file) => ({
  name: file,
  bytes: new Uint8Array(readFileSync(new URL(`./fixtures/sse/${file}`, import.meta.url))),
}));

describe('the SSE tap fed by the parser stream records what its own parser records', () => {
  for (const c of loadCases()) {
    it(`parser corpus: ${c.name}`, async () => {
      await expectSameState(c.name, encoder.encode(c.sse), c.parsers);
    });
  }

  // Errors, usage shapes, pings, comments, CRLF, id/retry fields, a BOM: what the tap inspects.
  for (const f of sseFixtures) {
    it(`tap fixture: ${f.name}`, async () => {
      await expectSameState(f.name, f.bytes, PARSE);
    });
  }

  it('an incomplete last event is the client’s only, as the tap’s own parser drops it', async () => {
    const sse = 'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\ndata: {"usage":{"total_tokens":3}}';
    await expectSameState('incomplete last event', encoder.encode(sse), PARSE);
    const { state } = await shared([encoder.encode(sse)], withParsers(PARSE));
    expect(state.usage).toBeNull();
    expect(state.events).toBe(1);
  });

  it('counts lines over the bound the same way', async () => {
    const long = `data: {"choices":[{"index":0,"delta":{"content":"${'x'.repeat(1024 * 1024)}"},"finish_reason":null}]}\n\n`;
    const sse = `data: {"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}\n\n${long}data: {"usage":{"total_tokens":3}}\n\ndata: [DONE]\n\n`;
    const bytes = encoder.encode(sse);
    for (const pieces of [[bytes], [bytes.subarray(0, 100), bytes.subarray(100, 600_000), bytes.subarray(600_000)], eventChunks(bytes)]) {
      const expected = await ownParser(pieces);
      expect(expected.overflows).toBe(1);
      expect((await shared(pieces, withParsers(PARSE))).state).toEqual(expected);
    }
  });

  it('a parser that throws: the rest goes out as it came, and the record is still complete', async () => {
    const throwing: Stage = {
      process: () => null,
      canSkip: () => {
        throw new Error('stage bug');
      },
      rewrite: () => null,
      finish: () => [],
    };
    const throwingStream = (inspector: Inspector) =>
      new ParserStream({ pipeline: new Pipeline([throwing]), capture: null, inspector });
    const bytes = encoder.encode(loadCases()[0]!.sse);
    for (const pieces of splits(bytes)) {
      expect((await shared(pieces, throwingStream)).state).toEqual(await ownParser(pieces));
    }
    // From the failing chunk on the upstream's bytes go out unchanged (bytes held before it stay
    // held, as when the relay catches a throwing transform).
    const { out } = await shared([bytes], throwingStream);
    expect(out).toEqual([bytes]);
  });

  it('a parser that throws on a later event: the byte lane hands that event to the full path, which handles it', async () => {
    const lateThrow: Stage = {
      process: () => null,
      canSkip: (data) => {
        if (data.includes('boom')) throw new Error('stage bug');
        return true;
      },
      rewrite: () => null,
      finish: () => [],
    };
    const stream = (inspector: Inspector) => new ParserStream({ pipeline: new Pipeline([lateThrow]), capture: null, inspector });
    const ev = (content: string) => `data: {"choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]}\n\n`;
    const bytes = encoder.encode(['a', 'b', 'boom', 'c'].map(ev).join('') + 'data: {"usage":{"total_tokens":3}}\n\n');
    for (const pieces of splits(bytes)) {
      expect((await shared(pieces, stream)).state).toEqual(await ownParser(pieces));
    }
    // Every event alone: each goes out as it came, the one that threw and those after it too.
    const events = eventChunks(bytes);
    expect((await shared(events, stream)).out).toEqual(events);
  });
});
