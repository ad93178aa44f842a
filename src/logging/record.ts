import type {
  BackendAttempt,
  ErrorType,
  Outcome,
  ParsedResponse,
  RecordedError,
  RequestRecord,
  RequestSink,
  Usage,
} from './types.ts';

export interface StreamCapture {
  chunks: readonly string[];
  chunksDropped: number;
  usage: Usage | null;
  finishReason: string | null;
}

export interface RecorderInit {
  id: string;
  method: string;
  path: string;
  query: string;
  /** Already sanitised. */
  headers: Record<string, string>;
  sink: RequestSink;
  maxBodyBytes: number;
  /** The realtime counters: `finish` is called once, synchronously, after the record is published. */
  counters?: { finish(outcome: Outcome): void };
  now?: () => number;
}

const decoder = new TextDecoder();

/**
 * Accumulates everything known about one `/v1` request and hands exactly one RequestRecord
 * to the sink. All later calls after `finalize` are ignored, so racing paths (client abort
 * vs. stream end) cannot double-log.
 */
export class RequestRecorder {
  readonly id: string;
  private readonly init: RecorderInit;
  private readonly now: () => number;
  private readonly startMs: number;
  /** Epoch ms; formatted only at finalize, off the first half of the request. */
  private readonly requestTimeMs: number;
  private modelName = 'unknown';
  private clientKey: string | null = null;
  private isStream = false;
  private body: unknown = null;
  private bodyTruncated = false;
  private route: readonly string[] = [];
  private readonly attempts: BackendAttempt[] = [];
  private readonly errors: RecordedError[] = [];
  private usage: Usage | null = null;
  private finishReason: string | null = null;
  private statusCode = 0;
  private backendName: string | null = null;
  private firstByteMs: number | null = null;
  private responseBody: string | null = null;
  private stream: (() => StreamCapture) | null = null;
  private parsed: (() => ParsedResponse) | null = null;
  private done = false;

  constructor(init: RecorderInit) {
    this.init = init;
    this.id = init.id;
    this.now = init.now ?? (() => performance.now());
    this.startMs = this.now();
    this.requestTimeMs = Date.now();
  }

  get finalized(): boolean {
    return this.done;
  }

  elapsedMs(): number {
    return this.now() - this.startMs;
  }

  get model(): string {
    return this.modelName;
  }

  setModel(model: string): void {
    this.modelName = model;
  }

  /** The configured client key's name, never the key. */
  setClientKey(name: string | null): void {
    this.clientKey = name;
  }

  setStream(isStream: boolean): void {
    this.isStream = isStream;
  }

  /** Keeps the parsed body when it is small enough, else a marked preview of the raw bytes. */
  setBody(raw: Uint8Array, parsed: unknown): void {
    const max = this.init.maxBodyBytes;
    if (raw.byteLength <= max) {
      this.body = parsed !== undefined ? parsed : raw.byteLength ? decoder.decode(raw) : null;
      return;
    }
    this.bodyTruncated = true;
    this.body = {
      _truncated: true,
      _original_bytes: raw.byteLength,
      _preview: decoder.decode(raw.subarray(0, max)),
    };
  }

  setRoute(route: readonly string[]): void {
    this.route = route;
  }

  addAttempt(attempt: BackendAttempt): void {
    if (this.done) return;
    this.attempts.push(attempt);
  }

  addError(
    type: ErrorType,
    message: string,
    extra: { backend?: string | null; httpStatus?: number | null; context?: Record<string, unknown> } = {},
  ): void {
    if (this.done) return;
    this.errors.push({
      time: new Date().toISOString(),
      type,
      message,
      backend: extra.backend ?? null,
      httpStatus: extra.httpStatus ?? null,
      context: extra.context ?? null,
    });
  }

  setUsage(usage: Usage | null, finishReason: string | null): void {
    if (usage) this.usage = usage;
    if (finishReason) this.finishReason = finishReason;
  }

  /** The stream tap's live state, read once at finalize. */
  attachStream(capture: () => StreamCapture): void {
    this.stream = capture;
  }

  /** What a response parser sent the client; read once at finalize (a stream's capture is live). */
  attachParsed(capture: () => ParsedResponse): void {
    this.parsed = capture;
  }

  setResponse(status: number, backendName: string | null): void {
    this.statusCode = status;
    this.backendName = backendName;
  }

  setResponseBody(text: string | null): void {
    this.responseBody = text;
  }

  markFirstByte(): void {
    if (this.firstByteMs === null) this.firstByteMs = this.elapsedMs();
  }

  finalize(outcome: Outcome): boolean {
    if (this.done) return false;
    this.done = true;
    // No sink keeps records (benchmarks with logging off): nothing to build.
    if (this.init.sink.keepsRecords === false) {
      this.init.counters?.finish(outcome);
      return true;
    }
    const stream = this.stream?.() ?? null;
    const record: RequestRecord = {
      id: this.id,
      requestTime: new Date(this.requestTimeMs).toISOString(),
      model: this.modelName,
      isStream: this.isStream,
      path: this.init.path,
      method: this.init.method,
      query: this.init.query,
      clientKey: this.clientKey,
      headers: this.init.headers,
      body: this.body,
      bodyTruncated: this.bodyTruncated,
      route: this.route,
      // Copies: sinks read the record later, and nothing may change it after publication.
      attempts: [...this.attempts],
      streamChunks: stream?.chunks ?? [],
      streamChunksDropped: stream?.chunksDropped ?? 0,
      errors: [...this.errors],
      usage: stream?.usage ?? this.usage,
      finishReason: stream?.finishReason ?? this.finishReason,
      outcome,
      statusCode: this.statusCode,
      backendName: this.backendName,
      // Hundredths of a millisecond: the overhead metric needs sub-millisecond resolution.
      durationMs: Math.round(this.elapsedMs() * 100) / 100,
      ttfbMs: this.firstByteMs === null ? null : Math.round(this.firstByteMs * 100) / 100,
      responseBody: this.responseBody,
      ...(this.parsed ? { parsed: this.parsed() } : {}),
    };
    try {
      this.init.sink.publish(record);
    } catch {
      // A sink must never throw; if one does, the request still completes.
    }
    this.init.counters?.finish(outcome);
    return true;
  }
}
