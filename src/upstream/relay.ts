import type { ClientSignal } from './client-signal.ts';
import type { ChunkSource } from './body.ts';
import { classifyNetworkError } from './classify.ts';

/** Sees every forwarded chunk after it was handed on; must not throw. */
export interface ChunkObserver {
  push(chunk: Uint8Array): void;
  end(): void;
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
  const emit = (controller: ReadableStreamDefaultController<Uint8Array>, chunk: Uint8Array, observe: boolean): void => {
    controller.enqueue(chunk);
    if (first) {
      first = false;
      opts.onFirstChunk?.();
    }
    if (observe) opts.observer?.push(chunk);
  };

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
          if (opts.clientSignal?.aborted) {
            end({ kind: 'cancelled' });
            return;
          }
          const failure = classifyNetworkError(err);
          opts.observer?.end();
          try {
            if (opts.errorEvent) controller.enqueue(opts.errorEvent(failure.message, failure.type));
            controller.close();
          } catch {
            // The client went away at the same moment; nothing left to tell it.
          }
          end({ kind: 'failed', type: failure.type, message: failure.message });
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
