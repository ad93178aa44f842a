/**
 * The finished record of one `/v1` request: what every sink (files, database) receives.
 * Plain data only — JSON-serialisable, so it can cross a worker thread or land in a spool file.
 */

export type Outcome = 'success' | 'error' | 'cancelled';

/** The `error_logs.error_type` vocabulary. */
export type ErrorType =
  | 'http_error'
  | 'http_retryable'
  | 'timeout'
  | 'connection_error'
  | 'sse_stream_error'
  | 'stream_error'
  | 'client_disconnect'
  | 'invalid_request'
  | 'request_too_large'
  | 'model_not_found'
  | 'configuration_error'
  | 'internal_error'
  /** `/v1/*` without a valid client key. */
  | 'unauthorized';

export interface Usage {
  readonly prompt_tokens?: number;
  readonly completion_tokens?: number;
  readonly total_tokens?: number;
  readonly [key: string]: unknown;
}

export interface BackendAttempt {
  readonly backend: string;
  /** 1-based attempt number within this backend. */
  readonly attempt: number;
  readonly url: string;
  /** HTTP status, or null when no response arrived. */
  readonly status: number | null;
  readonly durationMs: number;
  /** Time to response headers. */
  readonly ttfbMs: number | null;
  readonly error: string | null;
  readonly errorType: ErrorType | null;
  /** Sanitised response headers. */
  readonly responseHeaders: Readonly<Record<string, string>> | null;
  /** Captured response body (error bodies, non-stream bodies), capped. */
  readonly responseBody: string | null;
}

export interface RecordedError {
  readonly time: string;
  readonly type: ErrorType;
  readonly message: string;
  readonly backend: string | null;
  readonly httpStatus: number | null;
  readonly context: Readonly<Record<string, unknown>> | null;
}

export interface RequestRecord {
  /** UUID v4; also the `x-request-id` response header. */
  readonly id: string;
  /** ISO-8601 UTC. */
  readonly requestTime: string;
  /** Normalised model name, or "unknown" when the request had none. */
  readonly model: string;
  readonly isStream: boolean;
  readonly path: string;
  readonly method: string;
  readonly query: string;
  /**
   * Name of the client key that authenticated the request (never the key); null when client keys
   * are not configured or the request presented none. Optional only until every fixture sets it.
   */
  readonly clientKey?: string | null;
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON body, or the raw text (capped) when it was not JSON, or null. */
  readonly body: unknown;
  readonly bodyTruncated: boolean;
  /** Ordered backend names the request could use. */
  readonly route: readonly string[];
  readonly attempts: readonly BackendAttempt[];
  readonly streamChunks: readonly string[];
  /** Chunks seen but not kept because the capture bound was reached. */
  readonly streamChunksDropped: number;
  readonly errors: readonly RecordedError[];
  readonly usage: Usage | null;
  readonly finishReason: string | null;
  readonly outcome: Outcome;
  /** Status the client received (0 if the client went away before a status was sent). */
  readonly statusCode: number;
  /** Backend whose response reached the client, if any. */
  readonly backendName: string | null;
  readonly durationMs: number;
  /** Time from request start to the first response byte handed to the client. */
  readonly ttfbMs: number | null;
  /** Non-stream response body as sent to the client (capped), for the human-readable log. */
  readonly responseBody: string | null;
  /**
   * What the client got when a response parser rewrote the answer (`log_parsed_response` /
   * `log_parsed_stream`); `responseBody` / `streamChunks` then hold what the upstream sent.
   */
  readonly parsed?: ParsedResponse;
}

export interface ParsedResponse {
  /** The rewritten non-stream body (capped), or null for a stream. */
  readonly body: string | null;
  /** The rewritten stream as sent, a bounded prefix like `streamChunks`. */
  readonly chunks: readonly string[];
  readonly chunksDropped: number;
}

/** Where finished records go. `publish` must be O(1) and must never throw or block. */
export interface RequestSink {
  publish(record: RequestRecord): void;
  /** false: the sink drops every record (`nullSink`), so recorders need not build them. */
  readonly keepsRecords?: false;
  /** Flush whatever is buffered (shutdown). */
  close?(): Promise<void>;
}
