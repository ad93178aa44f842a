import { createParserStream } from '../parsers/config.ts';
import { readUntilFirstEvent } from '../sse/first-event.ts';
import { createSseTap } from '../sse/tap.ts';
import type { AttemptInput, AttemptOutcome, AttemptRun } from './attempt.ts';
import { decodeCapped, type ChunkSource } from './body.ts';
import { relayStream } from './relay.ts';

/** Bytes held back at most while waiting for the first SSE event (then we stop waiting). */
const MAX_FIRST_EVENT_BYTES = 64 * 1024;

interface SseContext extends AttemptInput {
  status: number;
  headers: Record<string, string>;
  source: ChunkSource;
  ttfbMs: number;
  run: AttemptRun;
}

const encoder = new TextEncoder();

/**
 * Holds only the first SSE event: an upstream that answers 200 and then sends an error event
 * before any content is a failed attempt (retry / fall back); otherwise every byte is relayed
 * at once and the tap records usage, finish_reason and errors on the side.
 */
export async function relaySse(ctx: SseContext): Promise<AttemptOutcome> {
  const { recorder, backend, config } = ctx;
  let first;
  try {
    first = await readUntilFirstEvent(readerOf(ctx.source), { maxBytes: MAX_FIRST_EVENT_BYTES });
  } catch (err) {
    ctx.source.destroy();
    return ctx.run.networkFailure(err, ctx.ttfbMs, ctx.status);
  }

  if (first.first === 'error' && first.error) return failedBeforeContent(ctx, first.chunks, first.error);
  // Nothing an SSE client could use arrived: EOF on an empty stream, or bytes that parse to no
  // event and do not even start like SSE (garbage, an HTML error page labelled as a stream). A
  // first event over 64 KiB, or one cut by EOF, does start like SSE and is relayed as before.
  // Nothing has been sent, so this attempt can still fail cleanly: the next attempt or backend
  // gets its chance, else the client gets a 502.
  if ((first.first === 'eof' || first.first === 'overflow') && first.resume.events.length === 0 && !startsLikeSse(first.chunks)) {
    const message =
      first.bytes === 0
        ? `${backend.name} closed the event stream before sending any event`
        : `${backend.name} sent ${first.bytes} byte(s) that are not an SSE event stream`;
    return failedBeforeContent(ctx, first.chunks, { message, type: 'upstream_error', code: 'sse_stream_error' });
  }

  // Without a sink that keeps records there is nothing to extract: relay the bytes only.
  // With parsers the tap takes its events from the parser stream, which splits the same bytes anyway.
  const tap = ctx.detail
    ? createSseTap({
        maxChunks: config.logging.maxStreamChunks,
        maxChunkBytes: config.logging.maxStreamChunkBytes,
        resume: first.resume,
        sharedParser: Boolean(ctx.parsers),
      })
    : null;
  const logParsed = ctx.detail && config.parsing?.logParsedStream === true;
  const parser = ctx.parsers
    ? createParserStream(
        ctx.parsers,
        logParsed ? { maxChunks: config.logging.maxStreamChunks, maxBytes: config.logging.maxStreamChunkBytes } : null,
        // The held chunks' events the tap already has from the first-event check.
        tap?.feed ? { feed: tap.feed, after: first.chunks.length } : undefined,
      )
    : null;
  // The tap keeps what the upstream sent; finish_reason is the one the client got (`tool_calls` after parsing).
  if (tap) recorder.attachStream(parser ? () => ({ ...tap.state, finishReason: parser.finishReason ?? tap.state.finishReason }) : () => tap.state);
  if (parser && logParsed) recorder.attachParsed(() => parser.parsed);
  recorder.setResponse(ctx.status, backend.name);
  const stream = relayStream({
    held: first.chunks,
    source: ctx.source,
    ...(tap ? { observer: tap, observeHeld: false } : {}),
    ...(parser ? { transform: parser } : {}),
    clientSignal: ctx.clientSignal,
    errorEvent: (message, type) =>
      encoder.encode(
        `data: ${JSON.stringify({ error: { message: `upstream stream interrupted: ${message}`, type: 'upstream_error', param: null, code: type } })}\n\n`,
      ),
    onFirstChunk: () => recorder.markFirstByte(),
    onEnd: (end) => ctx.run.finishRelay(ctx, end, 'stream', tap?.state.errors ?? []),
  });
  return { kind: 'response', response: new Response(stream, { status: ctx.status, headers: ctx.headers }) };
}

/** An SSE field line (`data:`, `event:`, `id:`, `retry:`) or comment, after an optional BOM and blank lines. */
const SSE_START = /^\uFEFF?[\r\n]*(?::|(?:data|event|id|retry)(?::|\r|\n|$))/;
const SSE_START_BYTES = 32;

function startsLikeSse(chunks: readonly Uint8Array[]): boolean {
  const head = new Uint8Array(SSE_START_BYTES);
  let n = 0;
  for (const chunk of chunks) {
    const take = Math.min(chunk.byteLength, SSE_START_BYTES - n);
    head.set(chunk.subarray(0, take), n);
    n += take;
    if (n === SSE_START_BYTES) break;
  }
  return n > 0 && SSE_START.test(new TextDecoder().decode(head.subarray(0, n)));
}

/** What an SSE failure before the first content needs (an upstream error event, or our own). */
interface EarlyFailure {
  readonly message: string;
  readonly type?: string | null;
  readonly code?: unknown;
  readonly httpStatus?: unknown;
}

/**
 * The stream failed before anything reached the client: a failed attempt (retried, or the next
 * backend), recorded as `sse_stream_error`, with an OpenAI-shaped error ready if it is the last.
 */
function failedBeforeContent(ctx: SseContext, chunks: readonly Uint8Array[], error: EarlyFailure): AttemptOutcome {
  const { recorder, backend, config } = ctx;
  ctx.source.destroy();
  const message = error.message;
  const rawText = decodeCapped(chunks, config.logging.maxBodyBytes);
  ctx.run.note(ctx.status, { ttfbMs: ctx.ttfbMs, error: message, errorType: 'sse_stream_error', headers: ctx.headers, body: rawText });
  recorder.addError('sse_stream_error', message, {
    backend: backend.name,
    httpStatus: ctx.status,
    context: { url: ctx.target.url, attempt: ctx.attempt, event: rawText.slice(0, 4096) },
  });
  const httpStatus = Number(error.httpStatus ?? error.code);
  const status = Number.isInteger(httpStatus) && httpStatus >= 400 && httpStatus <= 599 ? httpStatus : 502;
  const body = JSON.stringify({
    error: {
      message,
      type: error.type ?? 'upstream_error',
      param: null,
      code: error.code === undefined || error.code === null ? 'sse_stream_error' : String(error.code),
    },
  });
  return {
    kind: 'retry',
    failure: {
      backend: backend.name,
      type: 'sse_stream_error',
      message,
      retryAfterMs: null,
      response: { status, headers: { 'content-type': 'application/json' }, body: encoder.encode(body) },
    },
  };
}

function readerOf(source: ChunkSource): ReadableStreamDefaultReader<Uint8Array> {
  return { read: () => source.next() } as unknown as ReadableStreamDefaultReader<Uint8Array>;
}
