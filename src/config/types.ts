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
  readonly timeouts: TimeoutsConfig;
  readonly retry: RetryConfig;
  readonly logging: LoggingConfig;
  readonly database: DatabaseConfig;
}
