import type { Buffer } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
import type { Usage } from '../logging/types.ts';
import type { SseResume } from './first-event.ts';
import { classifySseEvent, mayCarryRecordData, type SseErrorInfo } from './inspect.ts';
import { createSseParser, type SseEvent, type SseParser } from './parser.ts';

export interface SseTapOptions {
  /** Most raw chunks kept for the record (default 1000). */
  maxChunks?: number;
  /** Most raw bytes kept for the record, over all chunks (default 1 MiB). */
  maxChunkBytes?: number;
  /** Most SSE errors kept (default 16); later ones are only counted. */
  maxErrors?: number;
  maxLineBytes?: number;
  onError?(info: SseErrorInfo): void;
  onFirstEvent?(ev: SseEvent): void;
  /**
   * Events come from another SSE parser of the same bytes, through `feed`, instead of the tap's own:
   * a stream the response parsers rewrite is then split into events once. `push` only counts and
   * captures. The other parser must hand on the events and overflows of the chunks pushed here,
   * not those of the resumed chunks (the tap has them already) nor an incomplete last event; its
   * line bound replaces `maxLineBytes`.
   */
  sharedParser?: boolean;
  /**
   * Continue from `readUntilFirstEvent`: its held chunks are emitted first by `stream.readable` (unchanged) and
   * recorded, its events are taken as already parsed, and its parser carries on with whatever is piped in.
   */
  resume?: SseResume;
}

export interface SseTapState {
  /** The last usage object seen (OpenAI sends it in the final chunk). */
  usage: Usage | null;
  /** The first non-null finish_reason. */
  finishReason: string | null;
  /** Captured raw chunks, decoded; a prefix of the stream. */
  chunks: readonly string[];
  chunksDropped: number;
  errors: readonly SseErrorInfo[];
  errorsDropped: number;
  sawDone: boolean;
  /** Bytes forwarded, held chunks included. */
  bytes: number;
  events: number;
  /** Lines or events dropped by the parser's size bounds. */
  overflows: number;
  /** Side inspection hit an exception and stopped; forwarding went on. */
  inspectFailed: boolean;
}

/** The tap's inspection, fed by the parser it shares (see `sharedParser`). */
export interface SseEventFeed {
  onEvent(ev: SseEvent): void;
  onOverflow(): void;
  /** That parser threw: inspection stops, as it does when the tap's own parser throws. */
  onFailure(): void;
}

export interface SseTap {
  readonly stream: TransformStream<Uint8Array, Uint8Array>;
  /**
   * The same inspection without the TransformStream hop, for a caller that forwards chunks
   * itself: call `push` after forwarding each chunk that follows the resumed ones, `end` once.
   */
  push(chunk: Uint8Array): void;
  end(): void;
  /** Live view: read it after the stream ends (or at any time for a partial picture). */
  readonly state: Readonly<SseTapState>;
  /** With `sharedParser`: where the shared parser hands its events; else null. */
  readonly feed: SseEventFeed | null;
}

/** Forwards every chunk unchanged and at once; parses SSE on the side for the request record. */
export function createSseTap(opts: SseTapOptions = {}): SseTap {
  const maxChunks = opts.maxChunks ?? 1000;
  const maxChunkBytes = opts.maxChunkBytes ?? 1024 * 1024;
  const maxErrors = opts.maxErrors ?? 16;
  const state: SseTapState = {
    usage: null,
    finishReason: null,
    chunks: [],
    chunksDropped: 0,
    errors: [],
    errorsDropped: 0,
    sawDone: false,
    bytes: 0,
    events: 0,
    overflows: 0,
    inspectFailed: false,
  };
  const chunks = state.chunks as string[];
  const errors = state.errors as SseErrorInfo[];
  // node's StringDecoder, as the SSE parser: it keeps split characters intact and the BOM in (the
  // capture is the raw stream), and per ~200-byte chunk it costs ~50-70 ns, where a latin1 read
  // of an ASCII chunk costs ~120 ns and a streaming TextDecoder ~170 ns.
  const captureDecoder = new StringDecoder('utf8');
  let capturing = true;
  let capturedBytes = 0;
  const decode = (chunk: Uint8Array): string => captureDecoder.write(chunk as Buffer);

  const capture = (chunk: Uint8Array): void => {
    if (capturing && chunks.length < maxChunks && capturedBytes + chunk.byteLength <= maxChunkBytes) {
      capturedBytes += chunk.byteLength;
      chunks.push(decode(chunk));
      return;
    }
    // Keep a gap-free prefix: once one chunk is dropped, so is everything after it.
    capturing = false;
    state.chunksDropped++;
  };

  // A throwing callback is the caller's bug; it must not cost the record or the stream.
  const callback = (fn: () => void): void => {
    try {
      fn();
    } catch {
      // ignored on purpose
    }
  };

  const onEvent = (ev: SseEvent): void => {
    if (state.events++ === 0) callback(() => opts.onFirstEvent?.(ev));
    if (!mayCarryRecordData(ev)) return;
    const c = classifySseEvent(ev);
    switch (c.kind) {
      case 'done':
        state.sawDone = true;
        return;
      case 'error':
        if (errors.length >= maxErrors) {
          state.errorsDropped++;
          return;
        }
        errors.push(c);
        callback(() => opts.onError?.(c));
        return;
      case 'data':
        if (c.usage) state.usage = c.usage;
        if (state.finishReason === null && c.finishReason !== null) state.finishReason = c.finishReason;
        return;
      case 'other':
        return;
    }
  };
  const onOverflow = (): void => {
    state.overflows++;
  };

  // Nothing on the side may break forwarding: the first exception switches inspection off for this stream.
  const guard = (fn: () => void): void => {
    if (state.inspectFailed) return;
    try {
      fn();
    } catch {
      state.inspectFailed = true;
    }
  };

  let parser: SseParser | null = null;
  const held = opts.resume?.chunks ?? [];
  for (const chunk of held) state.bytes += chunk.byteLength;
  guard(() => {
    const resume = opts.resume;
    if (resume) {
      for (const chunk of resume.chunks) capture(chunk);
      state.overflows += resume.overflows;
      for (const ev of resume.events) onEvent(ev);
      if (!opts.sharedParser) parser = resume.adopt({ onEvent, onOverflow });
    } else if (!opts.sharedParser) {
      parser = createSseParser({ onEvent, onOverflow, maxLineBytes: opts.maxLineBytes });
    }
  });
  // Guarded like the own parser's callbacks, so that a failure stops inspection the same way.
  const feed: SseEventFeed | null = opts.sharedParser
    ? {
        // Per event: a try/catch in place of `guard`'s closure.
        onEvent: (ev) => {
          if (state.inspectFailed) return;
          try {
            onEvent(ev);
          } catch {
            state.inspectFailed = true;
          }
        },
        onOverflow: () => guard(onOverflow),
        onFailure: () => {
          state.inspectFailed = true;
        },
      }
    : null;

  const push = (chunk: Uint8Array): void => {
    state.bytes += chunk.byteLength;
    // Per chunk: `guard` without its closure.
    if (state.inspectFailed) return;
    try {
      capture(chunk);
      parser?.push(chunk);
    } catch {
      state.inspectFailed = true;
    }
  };
  const end = (): void => {
    guard(() => {
      parser?.end();
      // A character cut by the end of the stream shows as U+FFFD in the capture, as a decoder would show it.
      const tail = capturing ? captureDecoder.end() : '';
      if (tail !== '' && chunks.length > 0) chunks[chunks.length - 1] += tail;
    });
  };

  // Built on first use: the relay drives push/end directly and never needs it.
  let stream: TransformStream<Uint8Array, Uint8Array> | null = null;
  const makeStream = (): TransformStream<Uint8Array, Uint8Array> =>
    new TransformStream<Uint8Array, Uint8Array>({
      start(controller) {
        for (const chunk of held) controller.enqueue(chunk);
      },
      transform(chunk, controller) {
        controller.enqueue(chunk);
        push(chunk);
      },
      flush: end,
    });

  return {
    get stream() {
      return (stream ??= makeStream());
    },
    push,
    end,
    get state() {
      return state;
    },
    feed,
  };
}
