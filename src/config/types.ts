/**
 * The resolved, validated runtime configuration. `load.ts` produces it from the YAML files
 * (snake_case on disk) after env substitution, merge, `extends` resolution and valibot checks.
 * Everything downstream reads only these types; all defaults live in `schema.ts`.
 */

export interface ParameterRule {
  readonly default: unknown;
  /** true: set `default` only when the client did not send the key; false: always force it. */
  readonly allowOverride: boolean;
}

export interface BackendConfig {
  /** The routing key (`model_name`). */
  readonly name: string;
  readonly apiBase: string;
  /** "" means no Authorization header is sent upstream. */
  readonly apiKey: string;
  /** Upstream model id to put in the body, or null to forward the client's `model` unchanged. */
  readonly targetModel: string | null;
  readonly apiType: string;
  /** Time to the first response byte, per attempt (`request_timeout`, seconds on disk). */
  readonly requestTimeoutMs: number;
  readonly supportsReasoning: boolean;
  readonly parameters: Readonly<Record<string, ParameterRule>>;
  readonly source: 'default' | 'added';
  /** Env variables this entry referenced that were unset; requesting the model is then an error. */
  readonly missingEnv: readonly string[];
  /** The entry's own response parsers: replace the global ones for this backend. Absent: use the global ones. */
  readonly parsers?: ParsersConfig;
}

export type ParserName = 'parse_unparsed' | 'swap_reasoning_content';

export interface ParseUnparsedOptions {
  readonly parseThinking: boolean;
  readonly parseToolCalls: boolean;
  readonly thinkTag: string;
  readonly toolTag: string;
}

export interface SwapReasoningOptions {
  readonly mode: 'reasoning_to_content' | 'content_to_reasoning' | 'auto';
  readonly thinkTag: string;
  readonly thinkOpen: { readonly prefix: string; readonly suffix: string };
  readonly thinkClose: { readonly prefix: string; readonly suffix: string };
  readonly includeNewline: boolean;
}

/** One parser configuration: `proxy_settings.parsers` or a model entry's `parsers`. */
export interface ParsersConfig {
  readonly enabled: boolean;
  /** Canonical names, `parse_unparsed` first, no duplicates. */
  readonly response: readonly ParserName[];
  /** Substrings of the request path the parsers apply to; empty: every path. */
  readonly paths: readonly string[];
  /** A tool-call block (or leading whitespace) longer than this many characters is let through as text. */
  readonly maxHeldChars: number;
  readonly parseUnparsed: ParseUnparsedOptions;
  readonly swapReasoning: SwapReasoningOptions;
}

/** Global parser settings; absent from ProxyConfig when they are all at their defaults. */
export interface ParsingConfig {
  /** `proxy_settings.parsers`, or null when the section is absent. */
  readonly global: ParsersConfig | null;
  /** Keep the rewritten non-stream body in the record (`log_parsed_response`). */
  readonly logParsedResponse: boolean;
  /** Keep the rewritten stream chunks in the record (`log_parsed_stream`, default: log_parsed_response). */
  readonly logParsedStream: boolean;
}

export interface DatabaseConfig {
  readonly enabled: boolean;
  readonly backend: 'sqlite' | 'postgres';
  readonly autoMigrate: boolean;
  readonly sqlite: { readonly path: string };
  readonly postgres: {
    readonly host: string;
    readonly port: number;
    readonly database: string;
    readonly user: string;
    readonly password: string;
  };
  readonly poolSize: number;
  readonly maxOverflow: number;
  /** Flush a batch when it holds this many rows... */
  readonly batchMaxRows: number;
  /** ...or when its oldest row has waited this long. */
  readonly batchMaxMs: number;
  /** Rows held in memory before new ones go to the spool file. */
  readonly queueMaxRows: number;
  readonly spoolDir: string;
  /** Days to keep each kind of data; 0 keeps it for ever. Applied by a periodic job in small batches. */
  readonly retention: {
    readonly rawDays: number;
    readonly minuteRollupDays: number;
    readonly hourRollupDays: number;
    readonly intervalMs: number;
  };
}

export interface LoggingConfig {
  /** Per-request `.json` + `.log` files. */
  readonly filesEnabled: boolean;
  readonly dir: string;
  /** Request / response bodies kept in records beyond this are truncated with a marker. */
  readonly maxBodyBytes: number;
  /** Stream chunks captured per request (count and total bytes). */
  readonly maxStreamChunks: number;
  readonly maxStreamChunkBytes: number;
  /** Extra header names (lowercase) to mask, on top of the built-in list. */
  readonly redactHeaders: readonly string[];
}

export interface TimeoutsConfig {
  readonly connectMs: number;
  /** Max silence between two stream chunks after the first one. */
  readonly streamIdleMs: number;
  /** Non-stream: max time to read the whole body after headers. */
  readonly bodyMs: number;
}

export interface RetryConfig {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** A `retry-after` longer than this is clamped to it. */
  readonly maxRetryAfterMs: number;
}

export interface ProxyConfig {
  /** Ordered by definition: default models, then added ones (an added model replaces a default one). */
  readonly backends: ReadonlyMap<string, BackendConfig>;
  readonly fallbacks: Readonly<Record<string, readonly string[]>>;
  /** Attempts per backend (>= 1), as in the original's `router_settings.num_retries`. */
  readonly numRetries: number;
  readonly server: { readonly host: string; readonly port: number };
  readonly enableResponsesEndpoint: boolean;
  readonly maxRequestBytes: number;
  /** Max bytes of an upstream error / non-stream body kept in memory. */
  readonly maxResponseBytes: number;
  /** Sockets per backend origin (keep-alive pool); requests beyond it wait for a free one. */
  readonly maxUpstreamConnections: number;
  readonly timeouts: TimeoutsConfig;
  readonly retry: RetryConfig;
  readonly logging: LoggingConfig;
  readonly database: DatabaseConfig;
  /** Response parsers and their logging; absent means no global parsers and no parsed logging. */
  readonly parsing?: ParsingConfig;
}
