import { Buffer } from 'node:buffer';
import type { ParsedResponse } from '../logging/types.ts';
import { createSseParser, DEFAULT_MAX_LINE_BYTES, type SseEvent, type SseParser } from '../sse/parser.ts';
import { CR, isDataField, LF, OPEN_BRACE } from '../sse/bytes.ts';
import type { SseEventFeed } from '../sse/tap.ts';
import { isObj, type Json, type Pipeline } from './pipeline.ts';
import { EventShape } from './shape.ts';

export interface ParserStreamOptions {
  pipeline: Pipeline;
  /** Keep what the client got, bounded like the raw capture; null keeps nothing. */
  capture: { maxChunks: number; maxBytes: number } | null;
  /** Longest SSE line / event kept (default 1 MiB); a longer one is dropped, as the tap drops it. */
  maxLineBytes?: number;
  /**
   * The SSE tap's inspection, handed every event this stream parses, so that the bytes are split
   * into events once. `after`: the first pushes whose events the tap already has (the chunks held
   * for the first-event check, which it took from that check's parser).
   */
  inspector?: { feed: SseEventFeed; after: number };
}

/**
 * Re-emits an SSE chat-completion stream through the parsers. Each upstream chunk in gives at
 * most one chunk out (whole events only, so a parser never sees half an event); events no parser
 * would touch, or touch only by renaming a key, skip JSON entirely, a tag event whose delta is
 * only its content runs through its stage on the text (`Pipeline.textPath`), and a chunk of whole
 * events none of which changed goes out as the same bytes. At `[DONE]`, or at the end of a stream
 * without it, what the parsers still hold goes out as final chunks carrying the last envelope.
 * Not JSON, comments and `[DONE]` pass through. A parser that throws switches parsing off for the
 * rest of the stream: events then pass through as they came. With an inspector (the SSE tap), each
 * event it splits is handed on too, so that a parsed stream is split into events once.
 */
export class ParserStream {
  /** First finish_reason sent to the client (a parsed tool call turns `stop` into `tool_calls`). */
  finishReason: string | null = null;
  private readonly parser: SseParser;
  private readonly pipeline: Pipeline;
  private out = '';
  private lastId: string | undefined;
  private envelope: Json | null = null;
  /**
   * The last event's data when it skipped parsing: its envelope is parsed only if needed. A chunk
   * that took the byte lane (`wholeEvent`) is kept as it is and decoded only then.
   */
  private envelopeData: string | Uint8Array | null = null;
  /**
   * Data of the latest unchanged events (no event name, no new id, no retry) not yet written to
   * `out`: a chunk that goes out as its own bytes never builds their text.
   */
  private readonly pending: string[] = [];
  /** How many of `pending` are live (a counter: setting an array's length is a slow path in V8). */
  private pendingCount = 0;
  private finalized = false;
  private broken = false;
  /** Some event of the current push was rewritten (or final chunks were added). */
  private changed = false;
  private readonly chunks: string[] = [];
  private capturedBytes = 0;
  private dropped = 0;
  private readonly inspector: SseEventFeed | null;
  /** Pushes left before the inspector gets events. */
  private inspectAfter: number;
  /** The inspector gets the events of this push. */
  private inspecting = false;
  /**
   * Something other than a parser threw: the rest of the upstream goes out as it came, as the
   * relay does with a transform that throws. The SSE parse goes on for the inspector, unless it
   * was the SSE parse that threw.
   */
  private raw: 'no' | 'rewrite failed' | 'sse failed' = 'no';

  private readonly maxLineBytes: number;
  /** The last lane chunk's shape: a chunk of the same shape reuses its verdict (see EventShape). */
  private shape: EventShape | null = null;
  /**
   * Lane chunks in a row that did not fit the shape: an upstream whose every chunk differs
   * besides its text (a per-chunk field) stops paying for compares and learning.
   */
  private shapeMisses = 0;
  /**
   * The SSE parse holds nothing and has started (a BOM now would be content): a chunk may take
   * the lanes. Set after each parse, the only thing that changes it. (Events after `[DONE]` take
   * the lanes too: they meet the same fast path as in the full path.)
   */
  private laneReady = false;
  /** The parser's last event id, as of the last parse. */
  private laneId = '';
  /** Where each event of a chunk read by `dataEvents` ends (its line's LF). */
  private readonly eventEnds: number[] = [];

  constructor(private readonly opts: ParserStreamOptions) {
    this.pipeline = opts.pipeline;
    this.maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.inspector = opts.inspector?.feed ?? null;
    this.inspectAfter = opts.inspector?.after ?? 0;
    this.parser = createSseParser({
      onEvent: (ev) => this.onEvent(ev),
      onComment: (text) => {
        this.flushPending();
        this.out += `:${text}\n\n`;
      },
      onOverflow: () => {
        if (this.inspecting) this.inspector?.onOverflow();
      },
      maxLineBytes: opts.maxLineBytes,
      dispatchIncompleteAtEnd: true,
    });
  }

  /** Bytes for the client for this upstream chunk, or null when everything is held (a partial event or tag). */
  push(chunk: Uint8Array): Uint8Array | null {
    if (this.inspectAfter > 0) this.inspectAfter--;
    else this.inspecting = this.inspector !== null;
    if (this.raw === 'rewrite failed' && this.inspector !== null) this.parse(chunk);
    if (this.raw !== 'no') return this.rawChunk(chunk);
    const lane = this.laneReady && this.pendingCount === 0 && this.out === '';
    if (lane) {
      const out = this.shaped(chunk) ?? this.wholeEvent(chunk);
      if (out !== null) return out;
    }
    // Idle, not just at a boundary: a chunk that ends with part of a character is not whole events.
    const wholeEvents = lane || this.parser.idle;
    this.changed = false;
    if (!lane || !this.dataEvents(chunk)) this.parse(chunk);
    if (this.raw !== 'no') return this.rawChunk(chunk);
    try {
      if (wholeEvents && !this.changed && (this.pendingCount > 0 || this.out !== '') && this.parser.idle && this.idInStep() && endsBlock(chunk)) {
        // The chunk held whole events only, none of them changed: it is its own re-encoding.
        if (this.opts.capture) {
          this.flushPending();
          this.capture(this.out);
        }
        this.pendingCount = 0;
        this.out = '';
        return chunk;
      }
      return this.take();
    } catch {
      this.raw = 'rewrite failed';
      return chunk;
    }
  }

  /** The end of the upstream: a last incomplete event, then whatever the parsers hold. */
  end(): Uint8Array | null {
    // The tap's own parser would drop an incomplete last event: it is the client's only.
    this.inspecting = false;
    if (this.raw !== 'no') return null;
    this.parser.end();
    this.finalize();
    return this.take();
  }

  /**
   * The byte lane, for the chunk most streams are made of: exactly one `data: {…}` line and its
   * blank line, arriving while the SSE parse holds nothing. Its data is read as latin1, one char
   * per byte: every test the fast path makes and every key a stage renames is ASCII, and no byte
   * of a multi-byte UTF-8 character is, so the tests answer as on the UTF-8 text and the renamed
   * text re-encodes to the exact bytes. The parser would only have dispatched this event, so it
   * can skip it. A tag event with ASCII bytes takes the text path here too. Null: the chunk takes
   * the full path (nothing here changed any state).
   */
  private wholeEvent(chunk: Uint8Array): Uint8Array | null {
    const n = chunk.byteLength;
    if (n < 10 || n > this.maxLineBytes || chunk[n - 1] !== LF || chunk[n - 2] !== LF) return null;
    if (!isDataField(chunk, 0) || chunk[6] !== OPEN_BRACE) return null;
    const id = this.laneId;
    if (id !== '' && id !== this.lastId) return null;
    const bytes = asBuffer(chunk);
    const data = bytes.toString('latin1', 6, n - 2);
    if (data.includes('\n') || data.includes('\r')) return null;
    let fast: string | null;
    try {
      fast = this.broken ? data : this.pipeline.fastPath(data);
    } catch {
      return null; // the full path meets the same throw and handles it (fastPath changes no state)
    }
    let ran = false;
    if (fast === null) {
      // An event the stage must run (a tag event): its text path, as the full path would take it,
      // when its bytes are ASCII (its latin1 reading is then its text: the stage keeps text
      // across events). Declined, having changed nothing: the full path.
      if (!this.pipeline.leftToText(data) || NOT_ASCII.test(data)) return null;
      try {
        fast = this.pipeline.textPath(data);
      } catch {
        // As the full path does when the stage throws: parsing off, this event as it came.
        this.broken = true;
        fast = data;
      }
      if (fast === null) return null;
      ran = true;
    }
    // A renamed text re-encodes as latin1 to the upstream's bytes; a text-path answer (ASCII
    // data, but a decoded escape may have become any character) is UTF-8 like the full path's.
    const out = fast === data ? chunk : Buffer.from(`data: ${fast}\n\n`, ran ? 'utf8' : 'latin1');
    // The shape, if any, did not fit this chunk (or the state moved on): learn this one's. A
    // chunk without a plain text (an escape, a tool call) leaves the last shape for the next. A
    // chunk the stage ran changed its state: its answer is no verdict for the next.
    if (!ran && this.shapeMisses < MAX_SHAPE_MISSES) {
      const learned = EventShape.learn(chunk, data, fast, this.pipeline.epoch);
      if (learned !== null) this.shape = learned;
    }
    this.envelopeData = chunk;
    if (this.inspecting) this.inspector?.onEvent(dataEvent(bytes, 0, n - 2, id));
    if (this.opts.capture) this.capture(asBuffer(out).toString('utf8'));
    return out;
  }

  /**
   * A chunk of one or more events of the last lane chunk's shape, while the stages' state is the
   * same: the fast path's verdict is the last one's (see EventShape), so the chunk is only
   * compared, not read. The SSE parse would only have dispatched these events.
   */
  private shaped(chunk: Uint8Array): Uint8Array | null {
    const shape = this.shape;
    if (shape === null || shape.epoch !== this.pipeline.epoch || this.broken || this.shapeMisses >= MAX_SHAPE_MISSES) return null;
    const id = this.laneId;
    if (id !== '' && id !== this.lastId) return null;
    const out = shape.apply(chunk);
    if (out === null) {
      this.shapeMisses++;
      return null;
    }
    this.shapeMisses = 0;
    const events = shape.events;
    const lastStart = shape.starts[events - 1]!;
    this.envelopeData = lastStart === 0 ? chunk : chunk.subarray(lastStart);
    if (this.inspecting) {
      const bytes = asBuffer(chunk);
      for (let e = 0; e < events; e++) {
        const end = e + 1 < events ? shape.starts[e + 1]! : bytes.byteLength;
        this.inspector?.onEvent(dataEvent(bytes, shape.starts[e]!, end - 2, id));
      }
    }
    if (this.opts.capture) this.capture(asBuffer(out).toString('utf8'));
    return out;
  }

  /**
   * A chunk of whole `data: …` events and nothing else (one line each, no CR, within the line
   * bound), arriving while the SSE parse holds nothing: its events, handed on as the parser would
   * dispatch them, without the parser's decode and line split. This is the way of a chunk the
   * byte lane cannot answer: an event to parse as JSON, or several events in one read. False,
   * having handed on nothing: the chunk takes the SSE parser.
   */
  private dataEvents(chunk: Uint8Array): boolean {
    const n = chunk.byteLength;
    const ends = this.eventEnds;
    let count = 0;
    for (let at = 0; at < n; ) {
      if (n - at < 8 || !isDataField(chunk, at)) return false;
      let i = at + 6;
      for (; i < n; i++) {
        const b = chunk[i];
        if (b === LF) break;
        if (b === CR) return false;
      }
      if (i + 1 >= n || chunk[i + 1] !== LF || i - at > this.maxLineBytes) return false;
      ends[count++] = i;
      at = i + 2;
    }
    const bytes = asBuffer(chunk);
    const id = this.laneId;
    for (let e = 0, at = 0; e < count; e++) {
      const end = ends[e]!;
      this.onEvent(dataEvent(bytes, at, end, id));
      at = end + 2;
    }
    return true;
  }

  /** Splits the chunk into events, rewritten unless `raw`. */
  private parse(chunk: Uint8Array): void {
    try {
      this.parser.push(chunk);
    } catch {
      // Only the SSE parser itself gets here (onEvent catches the rewrite's failures).
      this.raw = 'sse failed';
      this.inspector?.onFailure();
    }
    // Only a push changes what the parser holds: read here once, not on every chunk.
    this.laneReady = this.parser.idle && this.parser.started;
    this.laneId = this.parser.lastEventId;
  }

  /**
   * The client's last event id is the parser's: a chunk with a block that only sets the id (no
   * data, so no event) may go out as its own bytes only then. A re-encoding carries an id with the
   * next event that has data, and a chunk sent as it came would hand the id over earlier.
   */
  private idInStep(): boolean {
    const id = this.laneId;
    return id === '' ? this.lastId === undefined || this.lastId === '' : id === this.lastId;
  }

  private rawChunk(chunk: Uint8Array): Uint8Array {
    this.out = '';
    this.pendingCount = 0;
    return chunk;
  }

  /** Writes the deferred unchanged events to `out`, before anything else is written there. */
  private flushPending(): void {
    const n = this.pendingCount;
    if (n === 0) return;
    this.pendingCount = 0;
    for (let i = 0; i < n; i++) this.out += frameData(this.pending[i]!);
  }

  get parsed(): ParsedResponse {
    return { body: null, chunks: this.chunks, chunksDropped: this.dropped };
  }

  private take(): Uint8Array | null {
    this.flushPending();
    if (this.out === '') return null;
    const text = this.out;
    this.out = '';
    this.capture(text);
    // Buffer.from is several times cheaper than TextEncoder.encode for short strings (pooled allocation).
    return Buffer.from(text, 'utf8');
  }

  private capture(text: string): void {
    const c = this.opts.capture;
    if (!c) return;
    // Length in UTF-16 units bounds the UTF-8 size within 3x; exactness is not worth an encode here.
    if (this.dropped === 0 && this.chunks.length < c.maxChunks && this.capturedBytes + text.length <= c.maxBytes) {
      this.capturedBytes += text.length;
      this.chunks.push(text);
    } else {
      this.dropped++;
    }
  }

  private onEvent(ev: SseEvent): void {
    if (this.inspecting) this.inspector?.onEvent(ev);
    if (this.raw !== 'no') return;
    try {
      this.rewrite(ev);
    } catch {
      // Caught here, not by the relay, so that the rest of the chunk still reaches the inspector.
      this.raw = 'rewrite failed';
    }
  }

  private rewrite(ev: SseEvent): void {
    const data = ev.data;
    if (data.length < 16 && data.trim() === '[DONE]') {
      this.finalize();
      this.emit(ev, data);
      return;
    }
    // The byte lane may have judged this event already (read as latin1: the same text when it is ASCII).
    let fast = this.broken ? data : this.pipeline.leftToText(data) ? null : this.pipeline.fastPath(data);
    if (fast === null) {
      try {
        fast = this.pipeline.textPath(data);
      } catch {
        this.stageFailed(ev, data);
        return;
      }
    }
    if (fast === data) {
      this.envelopeData = data;
      // Unchanged: its text is built only if something else in this chunk changes.
      if (ev.event === 'message' && (ev.id === undefined || ev.id === this.lastId) && ev.retry === undefined) this.pending[this.pendingCount++] = data;
      else this.emit(ev, data);
      return;
    }
    if (fast !== null) {
      this.changed = true;
      this.envelopeData = fast;
      this.emit(ev, fast);
      return;
    }
    this.changed = true;
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      this.emit(ev, data);
      return;
    }
    if (!isObj(json)) {
      this.emit(ev, data);
      return;
    }
    let chunks: Json[];
    try {
      chunks = this.pipeline.run(json);
    } catch {
      this.stageFailed(ev, data);
      return;
    }
    this.envelope = json;
    this.envelopeData = null;
    for (const c of chunks) {
      this.noteFinish(c);
      this.emit(ev, JSON.stringify(c));
    }
  }

  /** A stage threw, perhaps with its state changed part way: parsing off, this event as it came. */
  private stageFailed(ev: SseEvent, data: string): void {
    this.broken = true;
    this.emit(ev, data);
  }

  private finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    this.changed = true;
    this.flushPending();
    if (this.broken) return;
    try {
      for (const c of this.pipeline.finish(() => this.lastEnvelope())) {
        this.noteFinish(c);
        this.out += `data: ${JSON.stringify(c)}\n\n`;
      }
    } catch {
      this.broken = true;
    }
  }

  /** The last chunk's top-level fields minus its choices; usage is nulled so it is not counted twice. */
  private lastEnvelope(): Json {
    let last = this.envelope;
    const d = this.envelopeData;
    if (d !== null) {
      try {
        // A chunk kept by the byte lane is one `data: ` line and its blank line.
        const parsed: unknown = JSON.parse(typeof d === 'string' ? d : asBuffer(d).toString('utf8', 6, d.byteLength - 2));
        if (isObj(parsed)) last = parsed;
      } catch {
        // Not JSON: keep the last envelope that was.
      }
    }
    if (!last) return {};
    const { choices: _choices, ...rest } = last;
    if ('usage' in rest) rest.usage = null;
    return rest;
  }

  private noteFinish(chunk: Json): void {
    if (this.finishReason !== null || !Array.isArray(chunk.choices)) return;
    for (const choice of chunk.choices) {
      if (isObj(choice) && typeof choice.finish_reason === 'string') {
        this.finishReason = choice.finish_reason;
        return;
      }
    }
  }

  private emit(ev: SseEvent, data: string): void {
    this.flushPending();
    let text = ev.event === 'message' ? '' : `event: ${ev.event}\n`;
    if (ev.id !== undefined && ev.id !== this.lastId) {
      this.lastId = ev.id;
      text += `id: ${ev.id}\n`;
      // The id may come from an earlier block (`id:` alone): the chunk's own bytes would lack it.
      this.changed = true;
    }
    if (ev.retry !== undefined) text += `retry: ${ev.retry}\n`;
    this.out += text + frameData(data);
  }
}

/**
 * The chunk ends with a blank line. One that ends with a comment line does not: the re-encoding
 * ends that comment with a blank line, which the next chunk (if it starts with the upstream's
 * own) would not repeat.
 */
function endsBlock(chunk: Uint8Array): boolean {
  const n = chunk.byteLength;
  const last = chunk[n - 1];
  if (last === CR) return chunk[n - 2] === CR || chunk[n - 2] === LF;
  if (last !== LF) return false;
  const before = chunk[n - 2];
  // `\n\n`, or a CRLF after a line ending (`\r\n\r\n`, `\n\r\n`, `\r\r\n`).
  return before === LF || (before === CR && (chunk[n - 3] === LF || chunk[n - 3] === CR));
}

/** A character that is not ASCII (in a latin1 reading: a byte of a multi-byte UTF-8 character). */
const NOT_ASCII = /[^\x00-\x7f]/;

/** Shape misses in a row after which a stream stops learning shapes. */
const MAX_SHAPE_MISSES = 16;

/**
 * The event of the `data: ` line `bytes[start, lineEnd)`, as the SSE parser would dispatch it
 * (`id`: the last event id in force, '' for none).
 */
function dataEvent(bytes: Buffer, start: number, lineEnd: number, id: string): SseEvent {
  const ev: SseEvent = { event: 'message', data: bytes.toString('utf8', start + 6, lineEnd) };
  if (id !== '') ev.id = id;
  return ev;
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** `data:` lines and the blank line that ends the event. */
function frameData(data: string): string {
  return data.includes('\n') ? `data: ${data.split('\n').join('\ndata: ')}\n\n` : `data: ${data}\n\n`;
}
