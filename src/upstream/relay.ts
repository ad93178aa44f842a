import type { ParsersConfig } from '../config/types.ts';
import type { RequestRecorder } from '../logging/record.ts';
import { rewriteBody } from '../parsers/config.ts';
import { CR, LF } from '../sse/bytes.ts';
import type { ClientSignal } from './client-signal.ts';
import type { ChunkSource } from './body.ts';
import { classifyNetworkError } from './classify.ts';

/** Sees every forwarded chunk after it was handed on; must not throw. */
export interface ChunkObserver {
  push(chunk: Uint8Array): void;
  end(): void;
}

/** Rewrites the stream on its way to the client (response parsers); the observer still sees the upstream bytes. */
export interface ChunkTransform {
  /** Output for one upstream chunk, or null when it is all held back for now. */
  push(chunk: Uint8Array): Uint8Array | null;
  /** The upstream ended (or failed): whatever is still held. */
  end(): Uint8Array | null;
}

export type RelayEnd =
  | { kind: 'complete' }
  | { kind: 'cancelled' }
  | { kind: 'failed'; type: 'timeout' | 'connection_error'; message: string };

export interface RelayOptions {
  /** Chunks already read from the upstream (held for the first-event check), sent first. */
  held: readonly Uint8Array[];
  source: ChunkSource;
  observer?: ChunkObserver;
  /** false when the observer has already seen the held chunks (a resumed SSE tap). */
  observeHeld?: boolean;
  /** Written as the last event when the upstream fails after the first byte (SSE only). */
  errorEvent?: (message: string, type: string) => Uint8Array;
  onFirstChunk?: () => void;
  transform?: ChunkTransform;
  /** The client's signal: an upstream error caused by the client leaving is a cancel, not a failure. */
  clientSignal?: ClientSignal;
  onEnd: (end: RelayEnd) => void;
}

/**
 * A pull stream with no buffer of its own (highWaterMark 0): each client read pulls exactly one
 * upstream chunk, so bytes are forwarded the moment they arrive and backpressure reaches the
 * upstream socket. `onEnd` fires exactly once, whichever of end / failure / cancel comes first.
 */
export function relayStream(opts: RelayOptions): ReadableStream<Uint8Array> {
  let heldIndex = 0;
  let ended = false;
  let first = true;
  const end = (result: RelayEnd): void => {
    if (ended) return;
    ended = true;
    opts.onEnd(result);
  };
  // The last two chunks sent, so a closing error event can start on an event boundary.
  let tail: Uint8Array | null = null;
  let beforeTail: Uint8Array | null = null;
  const emit = (controller: ReadableStreamDefaultController<Uint8Array>, chunk: Uint8Array, observe: boolean): void => {
    controller.enqueue(chunk);
    beforeTail = tail;
    tail = chunk;
    if (first) {
      first = false;
      opts.onFirstChunk?.();
    }
    if (observe) opts.observer?.push(chunk);
  };

  if (opts.transform) return transformedStream(opts, opts.transform, end);

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (heldIndex < opts.held.length) {
          emit(controller, opts.held[heldIndex++]!, opts.observeHeld ?? true);
          return;
        }
        let result: IteratorResult<Uint8Array>;
        try {
          result = await opts.source.next();
        } catch (err) {
          if (ended) return;
          endOnFailure(controller, opts, err, end, () => [beforeTail, tail]);
          return;
        }
        if (ended) return;
        if (result.done) {
          opts.observer?.end();
          controller.close();
          end({ kind: 'complete' });
          return;
        }
        emit(controller, result.value, true);
      },
      cancel() {
        opts.source.destroy();
        end({ kind: 'cancelled' });
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * The upstream failed mid-relay: a cancel if the client is the one that left, else the stream
 * ends with one error event (after whatever `flush` sends; it returns the last two chunks sent).
 */
function endOnFailure(
  controller: ReadableStreamDefaultController<Uint8Array>,
  opts: RelayOptions,
  err: unknown,
  end: (result: RelayEnd) => void,
  flush: () => readonly [Uint8Array | null, Uint8Array | null],
): void {
  if (opts.clientSignal?.aborted) {
    end({ kind: 'cancelled' });
    return;
  }
  const failure = classifyNetworkError(err);
  opts.observer?.end();
  try {
    const [beforeLast, last] = flush();
    if (opts.errorEvent) controller.enqueue(onBoundary(beforeLast, last, opts.errorEvent(failure.message, failure.type)));
    controller.close();
  } catch {
    // The client went away at the same moment; nothing left to tell it.
  }
  end({ kind: 'failed', type: failure.type, message: failure.message });
}

const BLANK_LINE = new Uint8Array([LF, LF]);

/**
 * `event` as it must follow what was sent so far: after a cut-off line or an event without its
 * blank line, an SSE client would glue the error event onto it and never see it; a blank line
 * first ends whatever was open. `last` and `beforeLast` are the last two chunks sent.
 */
function onBoundary(beforeLast: Uint8Array | null, last: Uint8Array | null, event: Uint8Array): Uint8Array {
  if (last === null) return event;
  const byte = (back: number): number | undefined => {
    if (back <= last.byteLength) return last[last.byteLength - back];
    return beforeLast?.[beforeLast.byteLength - (back - last.byteLength)];
  };
  const b1 = byte(1);
  const b2 = byte(2);
  const atBoundary = (b1 === LF && (b2 === LF || (b2 === CR && byte(3) === LF && byte(4) === CR))) || (b1 === CR && b2 === CR);
  if (atBoundary) return event;
  const out = new Uint8Array(BLANK_LINE.byteLength + event.byteLength);
  out.set(BLANK_LINE);
  out.set(event, BLANK_LINE.byteLength);
  return out;
}

/**
 * `relayStream` with a transform in the way: a kept apart copy so the plain relay above stays as
 * lean as it was. A pull reads upstream chunks until the transform has something for the client
 * (a pull that enqueues nothing would never be called again).
 */
function transformedStream(opts: RelayOptions, transform: ChunkTransform, end: (result: RelayEnd) => void): ReadableStream<Uint8Array> {
  let heldIndex = 0;
  let done = false;
  let first = true;
  // A transform that throws must cost neither the stream nor the record: the rest goes through raw.
  let failed = false;
  /** The transform's output for `chunk` (null: its end); after a throw, the chunk itself. No closure per chunk. */
  const apply = (chunk: Uint8Array | null): Uint8Array | null => {
    if (failed) return chunk;
    try {
      return chunk === null ? transform.end() : transform.push(chunk);
    } catch {
      failed = true;
      return chunk;
    }
  };
  let tail: Uint8Array | null = null;
  let beforeTail: Uint8Array | null = null;
  const send = (controller: ReadableStreamDefaultController<Uint8Array>, out: Uint8Array | null): boolean => {
    if (out === null || out.byteLength === 0) return false;
    controller.enqueue(out);
    beforeTail = tail;
    tail = out;
    if (first) {
      first = false;
      opts.onFirstChunk?.();
    }
    return true;
  };

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          if (heldIndex < opts.held.length) {
            const chunk = opts.held[heldIndex++]!;
            if (opts.observeHeld ?? true) opts.observer?.push(chunk);
            if (send(controller, apply(chunk))) return;
            continue;
          }
          let result: IteratorResult<Uint8Array>;
          try {
            result = await opts.source.next();
          } catch (err) {
            if (done) return;
            done = true;
            endOnFailure(controller, opts, err, end, () => {
              // What the transform still holds goes out before the error event.
              send(controller, apply(null));
              return [beforeTail, tail];
            });
            return;
          }
          if (done) return;
          if (result.done) {
            done = true;
            opts.observer?.end();
            send(controller, apply(null));
            controller.close();
            end({ kind: 'complete' });
            return;
          }
          opts.observer?.push(result.value);
          const chunk = result.value;
          if (send(controller, apply(chunk))) return;
        }
      },
      cancel() {
        done = true;
        opts.source.destroy();
        end({ kind: 'cancelled' });
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * A buffered non-stream body through the response parsers: only a JSON object (as the original,
 * by content-type). Null leaves the upstream bytes as they are; a parser failure is recorded and
 * the client still gets the upstream's answer.
 */
export function parseBody(parsers: ParsersConfig, headers: Record<string, string>, body: Uint8Array, recorder: RequestRecorder): Uint8Array | null {
  if (!(headers['content-type'] ?? '').toLowerCase().includes('application/json')) return null;
  try {
    return rewriteBody(parsers, body);
  } catch (err) {
    recorder.addError('internal_error', `response parser failed, upstream body relayed as is: ${(err as Error)?.message ?? String(err)}`);
    return null;
  }
}
