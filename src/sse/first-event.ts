import { classifySseEvent, type SseErrorInfo } from './inspect.ts';
import { createSseParser, type SseEvent, type SseParser } from './parser.ts';

export const DEFAULT_FIRST_EVENT_MAX_BYTES = 64 * 1024;

export type FirstEventKind = 'content' | 'error' | 'done' | 'eof' | 'overflow';

export interface SseEventHandlers {
  onEvent(ev: SseEvent): void;
  onOverflow?(): void;
}

/** The parser as left after the held chunks, so a tap can continue without parsing them twice. */
export interface SseResume {
  /** The chunks read, in order: forward them first, unchanged. */
  readonly chunks: readonly Uint8Array[];
  /** Every event the held chunks produced (the deciding one and any after it in the same chunk). */
  readonly events: readonly SseEvent[];
  /** Lines or events dropped for size while holding. */
  readonly overflows: number;
  /** Redirects later events to `handlers` and returns the live parser. Once only. */
  adopt(handlers: SseEventHandlers): SseParser;
}

export interface FirstEventResult {
  chunks: Uint8Array[];
  first: FirstEventKind;
  /** Set when `first` is 'error'. */
  error?: SseErrorInfo;
  /** Bytes held in `chunks`. */
  bytes: number;
  resume: SseResume;
}

export interface FirstEventOptions {
  /** Stop holding back after this many bytes and treat the stream as content (default 64 KiB). */
  maxBytes?: number;
  maxLineBytes?: number;
  /** Rejects with `signal.reason`. The pending read is not cancelled: the caller owns the reader. */
  signal?: AbortSignal;
}

/**
 * Holds upstream chunks until the first SSE event that decides whether the stream is usable: content, an error
 * (retryable: nothing has reached the client yet), `[DONE]`, EOF, or `maxBytes` without a decision. Comments
 * (`: keep-alive`) and pings decide nothing. The first byte goes to the client as soon as this returns.
 */
export async function readUntilFirstEvent(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  opts: FirstEventOptions = {},
): Promise<FirstEventResult> {
  const maxBytes = opts.maxBytes ?? DEFAULT_FIRST_EVENT_MAX_BYTES;
  const chunks: Uint8Array[] = [];
  const events: SseEvent[] = [];
  let bytes = 0;
  let overflows = 0;
  let decided: { first: FirstEventKind; error?: SseErrorInfo } | null = null;
  let adopted: SseEventHandlers | null = null;

  const parser = createSseParser({
    maxLineBytes: opts.maxLineBytes,
    onEvent(ev) {
      if (adopted) return adopted.onEvent(ev);
      events.push(ev);
      if (decided) return;
      const c = classifySseEvent(ev);
      if (c.kind === 'error') decided = { first: 'error', error: c };
      else if (c.kind === 'done') decided = { first: 'done' };
      else if (c.kind === 'data' && c.hasContent) decided = { first: 'content' };
    },
    onOverflow() {
      if (adopted) adopted.onOverflow?.();
      else overflows++;
    },
  });

  const finish = (first: FirstEventKind, error?: SseErrorInfo): FirstEventResult => {
    const resume: SseResume = {
      chunks,
      events,
      overflows,
      adopt(handlers) {
        if (adopted) throw new Error('SSE parser already adopted');
        adopted = handlers;
        return parser;
      },
    };
    return error ? { chunks, first, error, bytes, resume } : { chunks, first, bytes, resume };
  };

  while (true) {
    const { done, value } = await read(reader, opts.signal);
    if (done) return finish('eof');
    chunks.push(value);
    bytes += value.byteLength;
    parser.push(value);
    // `decided` is assigned inside the parser callback, which TS flow analysis cannot see.
    const d = decided as { first: FirstEventKind; error?: SseErrorInfo } | null;
    if (d) return finish(d.first, d.error);
    if (bytes >= maxBytes) return finish('overflow');
  }
}

function read(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  signal: AbortSignal | undefined,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  if (!signal) return reader.read();
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    reader.read().then(
      (r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
