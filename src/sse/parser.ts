import { Buffer } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
import { COLON, LF, SPACE } from './bytes.ts';

// Incremental `text/event-stream` parser following
// https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
// It runs beside every forwarded chunk, so the hot path is `indexOf` over the decoded chunk: no per-byte loops,
// and a partial line is kept as a list of parts instead of being re-concatenated on every chunk.

export interface SseEvent {
  /** The `event` field, or 'message' when the block had none (or an empty one). */
  event: string;
  /** `data` lines joined with '\n'. */
  data: string;
  /** The last event ID in force when this event was dispatched (persists across events, per spec); absent if empty. */
  id?: string;
  /** A valid `retry` value seen in this event's block. */
  retry?: number;
}

export interface SseParserOptions {
  onEvent(ev: SseEvent): void;
  /** Longest line kept, in UTF-8 bytes (default 1 MiB). Longer lines are dropped; the parser resyncs at the next line end. */
  maxLineBytes?: number;
  /** Largest data buffer of one event, in UTF-8 bytes (default: maxLineBytes). A larger event is dropped whole. */
  maxEventBytes?: number;
  /** Called once per dropped line or dropped event. */
  onOverflow?(): void;
  /** Comment lines (`: keep-alive`), without the leading colon, for a caller that re-emits the stream. */
  onComment?(text: string): void;
  /**
   * At `end()`, dispatch an event whose terminating blank line never came (the spec discards it).
   * For a caller that re-emits the stream: a relay must not lose a last event the client would have got.
   */
  dispatchIncompleteAtEnd?: boolean;
}

export interface SseParser {
  push(chunk: Uint8Array): void;
  /** End of stream: per spec an incomplete event (no terminating blank line) is discarded. */
  end(): void;
  /** Between events: no partial line, no half-read event block (so the input so far ended with a whole event). */
  readonly atBoundary: boolean;
  /**
   * Between events with nothing held at all: no partial line or character, no CR waiting for its
   * LF, not ended. The input so far is whole events, byte for byte (`atBoundary` allows the start
   * of a character after the last event). Once `started`, a chunk of whole `data:` events that
   * the caller reads itself may skip this parser: pushing it would change nothing but dispatch.
   */
  readonly idle: boolean;
  /** Some text was read: a BOM now would be content, not the stream's leading one. */
  readonly started: boolean;
  /** The last event ID in force ('' when none), as the next event without an `id:` line gets it. */
  readonly lastEventId: string;
}

export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

const DATA = 1;
const EVENT = 2;
const ID = 3;
const RETRY = 4;

/** Which known field `text[start, start + len)` names (0: none), without slicing it. */
function fieldAt(text: string, start: number, len: number): number {
  switch (len) {
    case 4:
      return text.startsWith('data', start) ? DATA : 0;
    case 5:
      if (text.startsWith('event', start)) return EVENT;
      return text.startsWith('retry', start) ? RETRY : 0;
    case 2:
      return text.startsWith('id', start) ? ID : 0;
    default:
      return 0;
  }
}

const BOM = 0xfeff;

/**
 * Measures the UTF-8 size of a growing text without encoding it on the hot path: one UTF-16 unit is at most
 * 3 UTF-8 bytes, so exact counting only starts once 3 × units could pass the limit. The result is exact and
 * independent of how the text was chunked, which keeps overflow decisions deterministic.
 */
class Utf8Budget {
  private units = 0;
  private bytes = -1;
  constructor(private readonly limit: number) {}

  /** Adds `part`; `measureSoFar` gives the exact size of what was added before. Returns false once over the limit. */
  add(part: string, measureSoFar: () => number): boolean {
    if (this.bytes < 0) {
      this.units += part.length;
      if (this.units * 3 <= this.limit) return true;
      if (this.units > this.limit) return false;
      this.bytes = measureSoFar() + Buffer.byteLength(part, 'utf8');
    } else {
      this.bytes += Buffer.byteLength(part, 'utf8');
    }
    return this.bytes <= this.limit;
  }

  reset(): void {
    this.units = 0;
    this.bytes = -1;
  }
}

export function createSseParser(opts: SseParserOptions): SseParser {
  return new Parser(opts);
}

/**
 * A class rather than closures: one is made per streamed request (by the first-event check, the
 * tap and the response parsers), and under tsx each named closure costs a `__name` call, an
 * Object.defineProperty, every time it is made.
 */
class Parser implements SseParser {
  private readonly dispatchIncompleteAtEnd: boolean;
  private readonly maxLine: number;
  // UTF-8 with replacement characters, as the spec asks. node's StringDecoder rather than TextDecoder: several
  // times cheaper per chunk (this runs on every forwarded chunk); the one leading BOM the spec says to ignore
  // ("One leading U+FEFF BYTE ORDER MARK character must be ignored") is stripped by hand.
  private readonly decoder = new StringDecoder('utf8');
  private atStart = true;
  // The last chunk ended with a byte over 0x7f, so the decoder may hold part of a character.
  private mayHoldBytes = false;

  private partial: string[] = [];
  private readonly lineBudget: Utf8Budget;
  private droppingLine = false;
  // A CR ending one chunk and an LF starting the next are one line ending (spec: "end-of-line = CRLF / CR / LF").
  private skipLeadingLf = false;

  private eventType = '';
  private data = '';
  private hasData = false;
  private readonly dataBudget: Utf8Budget;
  private lastId = '';
  private retry: number | undefined = undefined;
  // Set when a line or the data of the current block overflowed: the block is dropped at its blank line, because
  // dispatching it without the lost line could hand on a valid-looking but wrong event.
  private poisoned = false;
  private ended = false;

  constructor(private readonly opts: SseParserOptions) {
    this.dispatchIncompleteAtEnd = opts.dispatchIncompleteAtEnd === true;
    this.maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.lineBudget = new Utf8Budget(this.maxLine);
    this.dataBudget = new Utf8Budget(opts.maxEventBytes ?? this.maxLine);
  }

  get atBoundary(): boolean {
    return (
      this.partial.length === 0 &&
      !this.droppingLine &&
      !this.skipLeadingLf &&
      !this.hasData &&
      !this.poisoned &&
      this.eventType === '' &&
      this.retry === undefined
    );
  }

  get idle(): boolean {
    return !this.mayHoldBytes && !this.ended && this.atBoundary;
  }

  get started(): boolean {
    return !this.atStart;
  }

  get lastEventId(): string {
    return this.lastId;
  }

  push(chunk: Uint8Array): void {
    if (this.ended) return;
    if (chunk.byteLength > 0) this.mayHoldBytes = chunk[chunk.byteLength - 1]! > 0x7f;
    let text = this.decoder.write(chunk);
    if (this.atStart && text.length > 0) {
      this.atStart = false;
      if (text.charCodeAt(0) === BOM) text = text.slice(1);
    }
    const len = text.length;
    if (len === 0) return; // e.g. only part of a multi-byte character: keep skipLeadingLf for the next chunk
    let pos = 0;
    if (this.skipLeadingLf) {
      this.skipLeadingLf = false;
      if (text.charCodeAt(0) === LF) pos = 1;
    }
    // Next CR / LF positions are cached; -1 stays valid for the rest of this chunk.
    let lf = text.indexOf('\n', pos);
    let cr = text.indexOf('\r', pos);
    while (lf >= 0 || cr >= 0) {
      let end: number;
      let next: number;
      if (cr < 0 || (lf >= 0 && lf < cr)) {
        end = lf;
        next = lf + 1;
        lf = text.indexOf('\n', next);
      } else {
        end = cr;
        if (cr + 1 === len) {
          next = len;
          this.skipLeadingLf = true;
        } else if (text.charCodeAt(cr + 1) === LF) {
          next = cr + 2;
          lf = text.indexOf('\n', next);
        } else {
          next = cr + 1;
        }
        cr = text.indexOf('\r', next);
      }
      this.completeLine(text, pos, end);
      pos = next;
    }
    if (pos < len) this.keepTail(pos === 0 ? text : text.slice(pos));
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    let tail = this.decoder.end(); // release any held partial character
    if (this.atStart && tail.charCodeAt(0) === BOM) tail = tail.slice(1);
    if (this.dispatchIncompleteAtEnd) {
      if (!this.droppingLine && (this.partial.length > 0 || tail !== '')) {
        const line = this.partial.join('') + tail;
        this.processLine(line, 0, line.length);
      }
      this.dispatch();
    }
    this.partial = [];
    this.resetBlock();
  }

  private resetBlock(): void {
    this.eventType = '';
    this.data = '';
    this.hasData = false;
    this.dataBudget.reset();
    this.retry = undefined;
    this.poisoned = false;
  }

  private dispatch(): void {
    // Spec: an empty data buffer dispatches nothing, but the event type buffer is still reset.
    if (this.poisoned || !this.hasData) {
      this.resetBlock();
      return;
    }
    const ev: SseEvent = { event: this.eventType === '' ? 'message' : this.eventType, data: this.data };
    if (this.lastId !== '') ev.id = this.lastId;
    if (this.retry !== undefined) ev.retry = this.retry;
    this.resetBlock();
    this.opts.onEvent(ev);
  }

  /**
   * The line `text[start, end)`, read without slicing it: known field names are at most 5
   * characters, so only a colon among the first 6 can start a field we keep (a longer name, with
   * or without a colon, is an unknown field and ignored). Only the value is sliced.
   */
  private processLine(text: string, start: number, end: number): void {
    const len = end - start;
    if (len === 0) {
      this.dispatch();
      return;
    }
    const head = Math.min(len, 6);
    let colon = -1;
    for (let i = 0; i < head; i++) {
      if (text.charCodeAt(start + i) === COLON) {
        colon = i;
        break;
      }
    }
    if (colon === 0) {
      this.opts.onComment?.(text.slice(start + 1, end));
      return;
    }
    // The field name's length; with no colon the whole line is the name and the value is empty.
    const nameLen = colon < 0 ? len : colon;
    if (nameLen > 5) return; // unknown field
    let value = '';
    if (colon > 0) {
      const from = text.charCodeAt(start + colon + 1) === SPACE && colon + 1 < len ? start + colon + 2 : start + colon + 1;
      value = from < end ? text.slice(from, end) : '';
    }
    switch (fieldAt(text, start, nameLen)) {
      case DATA: {
        if (this.poisoned) return;
        const sep = this.hasData ? '\n' : '';
        if (!this.dataBudget.add(sep + value, () => Buffer.byteLength(this.data, 'utf8'))) {
          this.poisoned = true;
          this.opts.onOverflow?.();
          return;
        }
        this.data = this.hasData ? this.data + '\n' + value : value;
        this.hasData = true;
        return;
      }
      case EVENT:
        this.eventType = value;
        return;
      case ID:
        if (!value.includes('\0')) this.lastId = value;
        return;
      case RETRY:
        if (/^[0-9]+$/.test(value)) this.retry = parseInt(value, 10);
        return;
      default:
        return; // unknown fields are ignored
    }
  }

  /** A full line whose start may sit in `partial` from earlier chunks. */
  private completeLine(text: string, start: number, end: number): void {
    if (this.droppingLine) {
      this.droppingLine = false;
      return;
    }
    if (this.partial.length === 0) {
      if ((end - start) * 3 > this.maxLine && Buffer.byteLength(text.slice(start, end), 'utf8') > this.maxLine) {
        this.lineOverflow(text.slice(start, end));
        return;
      }
      this.processLine(text, start, end);
      return;
    }
    const rest = text.slice(start, end);
    const ok = this.lineBudget.add(rest, () => this.sumPartialBytes());
    const first = this.partial[0] ?? '';
    if (ok) this.partial.push(rest);
    const line = ok ? this.partial.join('') : '';
    this.partial = [];
    this.lineBudget.reset();
    if (!ok) {
      this.lineOverflow(first);
      return;
    }
    this.processLine(line, 0, line.length);
  }

  private sumPartialBytes(): number {
    let n = 0;
    for (const p of this.partial) n += Buffer.byteLength(p, 'utf8');
    return n;
  }

  private lineOverflow(lineStart: string): void {
    // An over-long comment (padding) belongs to no event, so only a field line poisons its block.
    if (lineStart.charCodeAt(0) !== COLON) this.poisoned = true;
    this.opts.onOverflow?.();
  }

  private keepTail(tail: string): void {
    if (this.droppingLine) return;
    if (this.lineBudget.add(tail, () => this.sumPartialBytes())) {
      this.partial.push(tail);
      return;
    }
    this.lineOverflow(this.partial[0] ?? tail);
    this.partial = [];
    this.lineBudget.reset();
    this.droppingLine = true;
  }
}
