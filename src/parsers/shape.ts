import { Buffer } from 'node:buffer';
import { BACKSLASH, LOWER_A, LOWER_Z, LT, QUOTE, UNDERSCORE } from '../sse/bytes.ts';
import { indexOfQuoted } from '../sse/text-search.ts';

/**
 * The shape of a stream's token events. An upstream sends nearly every chunk of a stream as one
 * `data: {…}\n\n` event whose bytes differ from the last one's only in the text of its delta:
 * `data: {"id":"…",…,"delta":{"content":"` + text + `"},"finish_reason":null}]}\n\n`. Once the
 * byte lane has judged one such chunk, a later chunk with the same head and tail bytes and a
 * plain text between them (no quote, backslash, `<` or control byte, and not only lowercase
 * letters and underscores) is the same event with another token: the fast path would say the
 * same of it, because every test it makes is a search for a quoted key, a `<` or an escape, none
 * of which such a text holds or can complete.
 * So the verdict is reused after a byte compare, without reading the chunk as text at all.
 *
 * A verdict holds while the stages' state does (`epoch`, see Pipeline.epoch).
 */
export class EventShape {
  private constructor(
    /** `data: ` up to and including the opening quote of the text. */
    private readonly head: Buffer,
    /** From the closing quote of the text to the blank line. */
    private readonly tail: Buffer,
    /** The head to send instead (a key renamed), or null: the chunk goes on as it came. */
    private readonly outHead: Buffer | null,
    readonly epoch: number,
  ) {}

  /**
   * The shape of a lane chunk (`data: ` + `data` + `\n\n`, `data` its latin1 reading) that the
   * fast path answered with `fast` (`data` itself, or `data` with one key renamed before the
   * text), or null when its content (else its reasoning) is not a plain text.
   */
  static learn(chunk: Uint8Array, data: string, fast: string, epoch: number): EventShape | null {
    // Which string is the text does not matter to the verdict (any plain string would do): the
    // token is the content's or the reasoning's.
    let rest = 'content":"';
    let key = indexOfQuoted(data, rest);
    if (key < 0) {
      rest = 'reasoning_content":"';
      key = indexOfQuoted(data, rest);
      if (key < 0) return null;
    }
    const start = key + 1 + rest.length;
    const end = plainTextEnd(data, start);
    // An empty text, or one with an escape or a `<`. (A text that spells a key may be learned
    // from: a search that found the key only made the fast path more careful, see `apply`.)
    if (end <= start || data.charCodeAt(end) !== QUOTE) return null;
    let outHead: Buffer | null = null;
    if (fast !== data) {
      // The rename must have changed the head only.
      const kept = data.length - start;
      if (fast.length < kept || !fast.endsWith(data.slice(start))) return null;
      outHead = Buffer.from(`data: ${fast.slice(0, fast.length - kept)}`, 'latin1');
    }
    const head = PREFIX + start;
    const tail = PREFIX + end;
    return new EventShape(copyOf(chunk, 0, head), copyOf(chunk, tail, chunk.byteLength), outHead, epoch);
  }

  /**
   * Where the events of the last chunk `apply` took start (`events` of them): each is `data: `,
   * its data, and the blank line, up to the next one's start or the chunk's end.
   */
  readonly starts: number[] = [];
  events = 0;

  /**
   * What to send for `chunk` when it is one or more events of this shape (several when the
   * upstream's writes arrive in one read): the chunk itself, or a copy with each head renamed;
   * null when it is not. The text of an event ends at its first quote, where its tail must start.
   * Compares are plain loops: they run right after the socket read, when little of the process
   * is in the caches, and a loop touches less than a call into C++ does.
   */
  apply(chunk: Uint8Array): Uint8Array | null {
    const head = this.head;
    const tail = this.tail;
    const n = chunk.byteLength;
    const h = head.byteLength;
    const t = tail.byteLength;
    const starts = this.starts;
    let events = 0;
    for (let at = 0; at < n; ) {
      const text = at + h;
      // The text's closing quote starts the tail, so it can be no later than this (and reading
      // on past the chunk's end would only cost: a typed array read out of bounds is slow).
      const last = n - t;
      if (text >= last) return null;
      for (let i = 0; i < h; i++) if (chunk[at + i] !== head[i]) return null;
      let end = text;
      let keyLike = true;
      for (; end <= last; end++) {
        const b = chunk[end]!;
        if (b === QUOTE) break;
        if (b < 0x20 || b === BACKSLASH || b === LT) return null;
        if (keyLike && (b < LOWER_A || b > LOWER_Z) && b !== UNDERSCORE) keyLike = false;
      }
      // A text of lowercase letters and underscores could, between the head's quote and the
      // tail's, spell a quoted key that the fast path searches for (`"tool_calls"`): where such
      // a search finds one, it answers "parse" to be safe, so the verdict cannot carry over.
      // An empty text counts as one (a stage may treat `""` as no text at all).
      if (end > last || keyLike) return null;
      for (let i = 1; i < t; i++) if (chunk[end + i] !== tail[i]) return null;
      starts[events++] = at;
      at = end + t;
    }
    this.events = events;
    const outHead = this.outHead;
    if (outHead === null) return chunk;
    const o = outHead.byteLength;
    const out = Buffer.allocUnsafe(n + events * (o - h));
    let w = 0;
    for (let e = 0; e < events; e++) {
      out.set(outHead, w);
      w += o;
      // The text and the tail: short, copied in place rather than through a subarray.
      const to = e + 1 < events ? starts[e + 1]! : n;
      for (let i = starts[e]! + h; i < to; i++) out[w++] = chunk[i]!;
    }
    return out;
  }
}

const PREFIX = 'data: '.length;

/** Where the plain text that starts at `start` ends: the first quote, backslash, `<` or control char. */
function plainTextEnd(data: string, start: number): number {
  let i = start;
  for (let c = data.charCodeAt(i); c >= 0x20 && c !== QUOTE && c !== BACKSLASH && c !== LT; c = data.charCodeAt(++i));
  return i;
}

function copyOf(chunk: Uint8Array, from: number, to: number): Buffer {
  return Buffer.from(chunk.subarray(from, to));
}
