import type { ClientSignal } from './client-signal.ts';
import type { BackendConfig, ParsersConfig, ProxyConfig } from '../config/types.ts';
import type { RequestRecorder } from '../logging/record.ts';
import type { HeaderSanitizer } from '../logging/sanitize.ts';
import type { ErrorType } from '../logging/types.ts';
import { asBodyInit, chunkSource, concat, extractJsonUsage, decodeCapped, readCapped, readErrorBody, type ChunkSource } from './body.ts';
import { BODY_DEADLINE_CODE, classifyNetworkError, parseRetryAfter, RETRYABLE_STATUSES } from './classify.ts';
import { inboundHeaders } from './headers.ts';
import type { UpstreamPools } from './pools.ts';
import { parseBody, relayStream, type RelayEnd } from './relay.ts';
import { relaySse } from './sse-relay.ts';

export interface AttemptFailure {
  backend: string;
  type: ErrorType;
  message: string;
  retryAfterMs: number | null;
  /** The upstream's own error response, relayed if every backend fails. */
  response: { status: number; headers: Record<string, string>; body: Uint8Array } | null;
}

export type AttemptOutcome =
  | { kind: 'response'; response: Response }
  | { kind: 'retry'; failure: AttemptFailure }
  | { kind: 'cancelled' };

export interface AttemptInput {
  pools: UpstreamPools;
  sanitize: HeaderSanitizer;
  detail: boolean;
  config: ProxyConfig;
  backend: BackendConfig;
  attempt: number;
  target: { origin: string; path: string; url: string };
  body: Uint8Array | string;
  headers: Record<string, string>;
  isStream: boolean;
  clientSignal: ClientSignal;
  recorder: RequestRecorder;
  /** Response parsers for this backend and path (src/parsers/), or null: bytes pass through untouched. */
  parsers?: ParsersConfig | null;
}

/** Error bodies are kept only this large: enough for any real error message. */
const MAX_ERROR_BODY = 64 * 1024;

/**
 * One attempt's bookkeeping. A class rather than per-call closures: this runs for every request,
 * and closures cost an allocation each (plus a __name wrapper under tsx).
 */
export class AttemptRun {
  readonly started = performance.now();
  constructor(readonly a: AttemptInput) {}

  note(status: number | null, extra: AttemptNote = {}): void {
    const a = this.a;
    a.recorder.addAttempt({
      backend: a.backend.name,
      attempt: a.attempt,
      url: a.target.url,
      status,
      durationMs: Math.round((performance.now() - this.started) * 100) / 100,
      ttfbMs: extra.ttfbMs ?? null,
      error: extra.error ?? null,
      errorType: extra.errorType ?? null,
      responseHeaders: extra.headers && a.detail ? a.sanitize(extra.headers) : null,
      responseBody: a.detail ? (extra.body ?? null) : null,
    });
  }

  /**
   * The end of a relayed response (after its first byte): records the attempt, any in-band SSE
   * errors, and the failure or disconnect that ended it, then finalizes the request.
   */
  finishRelay(
    ctx: { status: number; ttfbMs: number; headers: Record<string, string> },
    end: RelayEnd,
    what: 'body' | 'stream',
    streamErrors: readonly { message: string }[] = [],
  ): void {
    const { recorder, backend } = this.a;
    const at = { backend: backend.name, httpStatus: ctx.status };
    for (const e of streamErrors) recorder.addError('sse_stream_error', e.message, at);
    if (end.kind === 'failed') {
      recorder.addError(end.type, `${what === 'stream' ? 'stream interrupted after first byte' : 'body interrupted'}: ${end.message}`, at);
    } else if (end.kind === 'cancelled') {
      recorder.addError('client_disconnect', what === 'stream' ? 'client disconnected during stream' : 'client disconnected', { backend: backend.name });
    }
    const inBand = streamErrors[0];
    this.note(ctx.status, {
      ttfbMs: ctx.ttfbMs,
      headers: ctx.headers,
      error: end.kind === 'failed' ? end.message : end.kind === 'cancelled' ? 'client disconnected' : (inBand?.message ?? null),
      errorType: end.kind === 'failed' ? end.type : end.kind === 'cancelled' ? 'client_disconnect' : inBand ? 'sse_stream_error' : null,
    });
    recorder.finalize(end.kind === 'cancelled' ? 'cancelled' : end.kind === 'failed' || inBand ? 'error' : 'success');
  }

  networkFailure(err: unknown, ttfbMs: number | null, status: number | null): AttemptOutcome {
    const { backend, recorder, clientSignal, target, attempt } = this.a;
    if (clientSignal.aborted) {
      this.note(status, { ttfbMs, error: 'client disconnected', errorType: 'client_disconnect' });
      return { kind: 'cancelled' };
    }
    const f = classifyNetworkError(err);
    const message = `${backend.name} request error: ${f.message}`;
    this.note(status, { ttfbMs, error: message, errorType: f.type });
    recorder.addError(f.type, message, { backend: backend.name, httpStatus: status, context: { url: target.url, attempt } });
    return { kind: 'retry', failure: { backend: backend.name, type: f.type, message, retryAfterMs: null, response: null } };
  }
}

export async function attemptOnce(a: AttemptInput): Promise<AttemptOutcome> {
  const run = new AttemptRun(a);
  const { backend, recorder } = a;
  let res;
  try {
    res = await a.pools.get(a.target.origin).request({
      method: 'POST',
      path: a.target.path,
      headers: a.headers,
      body: a.body,
      signal: a.clientSignal,
      headersTimeout: backend.requestTimeoutMs,
      bodyTimeout: a.config.timeouts.streamIdleMs,
    });
  } catch (err) {
    return run.networkFailure(err, null, null);
  }
  const ttfbMs = Math.round((performance.now() - run.started) * 100) / 100;
  const status = res.statusCode;
  const headers = inboundHeaders(res.headers);
  headers['x-request-id'] = recorder.id;
  const source = chunkSource(res.body);

  if (status >= 400) {
    const body = await readErrorBody(source, MAX_ERROR_BODY);
    const text = decodeCapped([body], a.config.logging.maxBodyBytes);
    const retryable = RETRYABLE_STATUSES.has(status);
    const type: ErrorType = retryable ? 'http_retryable' : 'http_error';
    const message = retryable ? `${backend.name} returned retryable status ${status}` : `${backend.name} returned status ${status}`;
    run.note(status, { ttfbMs, error: message, errorType: type, headers, body: text });
    recorder.addError(type, message, { backend: backend.name, httpStatus: status, context: { url: a.target.url, attempt: a.attempt, body: text } });
    if (retryable) {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      return { kind: 'retry', failure: { backend: backend.name, type, message, retryAfterMs, response: { status, headers, body } } };
    }
    recorder.setResponse(status, backend.name);
    recorder.setResponseBody(text);
    recorder.finalize('error');
    return { kind: 'response', response: new Response(asBodyInit(body), { status, headers }) };
  }

  const isSse = (headers['content-type'] ?? '').includes('text/event-stream');
  if (a.isStream && isSse) {
    return relaySse({ ...a, status, headers, source, ttfbMs, run });
  }
  const declared = Number(res.headers['content-length']);
  const whole = Number.isInteger(declared) && declared <= a.config.maxResponseBytes ? res.body : null;
  return relayBody(a, { status, headers, source, ttfbMs, run, whole });
}

export interface AttemptNote {
  ttfbMs?: number | null;
  error?: string | null;
  errorType?: ErrorType | null;
  headers?: Record<string, string>;
  body?: string | null;
}

interface BodyContext {
  status: number;
  headers: Record<string, string>;
  source: ChunkSource;
  ttfbMs: number;
  run: AttemptRun;
  /** A body of known, acceptable length: read in one go (undici's own buffering, no iterator). */
  whole: { arrayBuffer(): Promise<ArrayBuffer> } | null;
}

/**
 * Non-stream 2xx: buffered up to `maxResponseBytes` (so a body that breaks half-way can still
 * be retried on another backend), usage parsed from it; a larger body is relayed as a stream.
 */
async function relayBody(a: AttemptInput, ctx: BodyContext): Promise<AttemptOutcome> {
  const { recorder, backend } = a;
  let read;
  const deadline = setTimeout(
    () => ctx.source.destroy(Object.assign(new Error('body deadline'), { code: BODY_DEADLINE_CODE })),
    a.config.timeouts.bodyMs,
  );
  try {
    if (ctx.whole) {
      const bytes = new Uint8Array(await ctx.whole.arrayBuffer());
      read = { chunks: [bytes], bytes: bytes.byteLength, complete: true };
    } else {
      read = await readCapped(ctx.source, a.config.maxResponseBytes);
    }
  } catch (err) {
    return ctx.run.networkFailure(err, ctx.ttfbMs, ctx.status);
  } finally {
    clearTimeout(deadline);
  }
  recorder.setResponse(ctx.status, backend.name);
  if (read.complete) {
    const upstreamBody = concat(read.chunks, read.bytes);
    const parsed = a.parsers ? parseBody(a.parsers, ctx.headers, upstreamBody, recorder) : null;
    const body = parsed ?? upstreamBody;
    if (a.detail) {
      const text = decodeCapped([upstreamBody], a.config.logging.maxBodyBytes);
      ctx.run.note(ctx.status, { ttfbMs: ctx.ttfbMs, headers: ctx.headers, body: text });
      if (parsed && a.config.parsing?.logParsedResponse) {
        const parsedText = decodeCapped([parsed], a.config.logging.maxBodyBytes);
        recorder.attachParsed(() => ({ body: parsedText, chunks: [], chunksDropped: 0 }));
      }
      if ((ctx.headers['content-type'] ?? '').includes('json')) {
        const usage = extractJsonUsage(body);
        recorder.setUsage(usage.usage, usage.finishReason);
      }
      recorder.setResponseBody(text);
    } else {
      ctx.run.note(ctx.status, { ttfbMs: ctx.ttfbMs });
    }
    recorder.markFirstByte();
    recorder.finalize('success');
    return { kind: 'response', response: new Response(asBodyInit(body), { status: ctx.status, headers: ctx.headers }) };
  }
  recorder.setResponseBody(decodeCapped(read.chunks, a.config.logging.maxBodyBytes));
  const stream = relayStream({
    held: read.chunks,
    source: ctx.source,
    clientSignal: a.clientSignal,
    onFirstChunk: () => recorder.markFirstByte(),
    onEnd: (end) => ctx.run.finishRelay(ctx, end, 'body'),
  });
  return { kind: 'response', response: new Response(stream, { status: ctx.status, headers: ctx.headers }) };
}
