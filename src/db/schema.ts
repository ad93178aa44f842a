/**
 * Kysely table types for the log tables, and a runtime description of every column.
 *
 * Select types are what the drivers hand back *before* decoding, which differs per dialect
 * (PostgreSQL parses jsonb, timestamptz and boolean; SQLite returns text and 0/1). Code that wants
 * one dialect-independent shape decodes rows with `decodeRow` from `dialect.ts`, driven by the
 * column specs below. The specs are checked against the interfaces at compile time, so a column
 * added to one and not the other is a type error, and the migration test compares both with the
 * introspected schema.
 */
import type { ColumnType, SelectType } from 'kysely';

/** Written as ISO-8601 UTC text on both dialects; PostgreSQL returns a Date, SQLite the text. */
type Timestamp = ColumnType<Date | string, string, string>;
type DefaultedTimestamp = ColumnType<Date | string, string | undefined, string>;
/** Written as JSON text on both dialects; PostgreSQL returns it parsed, SQLite as text. */
type Json = ColumnType<unknown, string | null, string | null>;
/** A defaulted bigint sum (PostgreSQL bigint, parsed to a number by the pool; SQLite integer). */
type Counter = ColumnType<number, number | undefined, number>;
/** PostgreSQL boolean; SQLite integer 0/1. */
type Bool = ColumnType<boolean | number, boolean | number, boolean | number>;

export interface RequestLogsTable {
  id: string;
  request_time: Timestamp;
  model_name: string;
  is_stream: Bool;
  path: string | null;
  method: string | null;
  query: string | null;
  headers: Json;
  body: Json;
  route: Json;
  backend_attempts: Json;
  stream_chunks: Json;
  errors: Json;
  usage_stats: Json;
  outcome: string;
  duration_ms: number | null;
  created_at: DefaultedTimestamp;
  // Not in the seed: typed copies of record fields so analytics need no JSON extraction.
  status_code: number | null;
  backend_name: string | null;
  finish_reason: string | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  total_tokens: number | null;
  ttfb_ms: number | null;
  /** Name of the client key the request used (migration 0002); never the key itself. */
  client_key: string | null;
}

export interface ErrorLogsTable {
  id: string;
  timestamp: Timestamp;
  model_name: string | null;
  error_type: string;
  error_message: string;
  backend_name: string | null;
  http_status: number | null;
  request_path: string | null;
  request_log_id: string | null;
  extra_context: Json;
  created_at: DefaultedTimestamp;
}

/** Per-bucket aggregates maintained with the raw rows (src/db/rollups.ts, migration 0002). */
export interface UsageRollupsTable {
  /** 'minute', 'hour' or 'day' (day rows since migration 0004). */
  granularity: string;
  bucket_start: Timestamp;
  model_name: string;
  client_key: ColumnType<string, string | undefined, string>;
  request_count: Counter;
  success_count: Counter;
  error_count: Counter;
  cancelled_count: Counter;
  stream_count: Counter;
  duration_sum_ms: Counter;
  duration_count: Counter;
  duration_min_ms: number | null;
  duration_max_ms: number | null;
  ttfb_sum_ms: Counter;
  ttfb_count: Counter;
  prompt_tokens: Counter;
  completion_tokens: Counter;
  total_tokens: Counter;
  lat_0: Counter;
  lat_1: Counter;
  lat_2: Counter;
  lat_3: Counter;
  lat_4: Counter;
  lat_5: Counter;
  lat_6: Counter;
  lat_7: Counter;
  lat_8: Counter;
  lat_9: Counter;
  lat_10: Counter;
  lat_11: Counter;
}

export interface Database {
  request_logs: RequestLogsTable;
  error_logs: ErrorLogsTable;
  usage_rollups: UsageRollupsTable;
}

export type ColumnKind = 'uuid' | 'text' | 'integer' | 'bigint' | 'json' | 'timestamp' | 'boolean';

export interface ColumnSpec {
  readonly kind: ColumnKind;
  readonly nullable: boolean;
  /** The database fills it when the insert leaves it out. */
  readonly hasDefault?: boolean;
}

/** Exactly the keys of table `T`, with `nullable` forced to agree with the column's select type. */
export type ColumnSpecsOf<T> = {
  readonly [K in keyof T]-?: {
    readonly kind: ColumnKind;
    readonly nullable: null extends SelectType<T[K]> ? true : false;
    readonly hasDefault?: boolean;
  };
};

export const REQUEST_LOG_COLUMNS = {
  id: { kind: 'uuid', nullable: false },
  request_time: { kind: 'timestamp', nullable: false },
  model_name: { kind: 'text', nullable: false },
  is_stream: { kind: 'boolean', nullable: false, hasDefault: true },
  path: { kind: 'text', nullable: true },
  method: { kind: 'text', nullable: true },
  query: { kind: 'text', nullable: true },
  headers: { kind: 'json', nullable: true },
  body: { kind: 'json', nullable: true },
  route: { kind: 'json', nullable: true },
  backend_attempts: { kind: 'json', nullable: true },
  stream_chunks: { kind: 'json', nullable: true },
  errors: { kind: 'json', nullable: true },
  usage_stats: { kind: 'json', nullable: true },
  outcome: { kind: 'text', nullable: false },
  duration_ms: { kind: 'integer', nullable: true },
  created_at: { kind: 'timestamp', nullable: false, hasDefault: true },
  status_code: { kind: 'integer', nullable: true },
  backend_name: { kind: 'text', nullable: true },
  finish_reason: { kind: 'text', nullable: true },
  prompt_tokens: { kind: 'integer', nullable: true },
  completion_tokens: { kind: 'integer', nullable: true },
  total_tokens: { kind: 'integer', nullable: true },
  ttfb_ms: { kind: 'integer', nullable: true },
  client_key: { kind: 'text', nullable: true },
} as const satisfies ColumnSpecsOf<RequestLogsTable>;

export const ERROR_LOG_COLUMNS = {
  id: { kind: 'uuid', nullable: false },
  timestamp: { kind: 'timestamp', nullable: false },
  model_name: { kind: 'text', nullable: true },
  error_type: { kind: 'text', nullable: false },
  error_message: { kind: 'text', nullable: false },
  backend_name: { kind: 'text', nullable: true },
  http_status: { kind: 'integer', nullable: true },
  request_path: { kind: 'text', nullable: true },
  request_log_id: { kind: 'uuid', nullable: true },
  extra_context: { kind: 'json', nullable: true },
  created_at: { kind: 'timestamp', nullable: false, hasDefault: true },
} as const satisfies ColumnSpecsOf<ErrorLogsTable>;

export const USAGE_ROLLUP_COLUMNS = {
  granularity: { kind: 'text', nullable: false },
  bucket_start: { kind: 'timestamp', nullable: false },
  model_name: { kind: 'text', nullable: false },
  client_key: { kind: 'text', nullable: false, hasDefault: true },
  request_count: { kind: 'bigint', nullable: false, hasDefault: true },
  success_count: { kind: 'bigint', nullable: false, hasDefault: true },
  error_count: { kind: 'bigint', nullable: false, hasDefault: true },
  cancelled_count: { kind: 'bigint', nullable: false, hasDefault: true },
  stream_count: { kind: 'bigint', nullable: false, hasDefault: true },
  duration_sum_ms: { kind: 'bigint', nullable: false, hasDefault: true },
  duration_count: { kind: 'bigint', nullable: false, hasDefault: true },
  duration_min_ms: { kind: 'integer', nullable: true },
  duration_max_ms: { kind: 'integer', nullable: true },
  ttfb_sum_ms: { kind: 'bigint', nullable: false, hasDefault: true },
  ttfb_count: { kind: 'bigint', nullable: false, hasDefault: true },
  prompt_tokens: { kind: 'bigint', nullable: false, hasDefault: true },
  completion_tokens: { kind: 'bigint', nullable: false, hasDefault: true },
  total_tokens: { kind: 'bigint', nullable: false, hasDefault: true },
  lat_0: { kind: 'bigint', nullable: false, hasDefault: true },
  lat_1: { kind: 'bigint', nullable: false, hasDefault: true },
  lat_2: { kind: 'bigint', nullable: false, hasDefault: true },
  lat_3: { kind: 'bigint', nullable: false, hasDefault: true },
  lat_4: { kind: 'bigint', nullable: false, hasDefault: true },
  lat_5: { kind: 'bigint', nullable: false, hasDefault: true },
  lat_6: { kind: 'bigint', nullable: false, hasDefault: true },
  lat_7: { kind: 'bigint', nullable: false, hasDefault: true },
  lat_8: { kind: 'bigint', nullable: false, hasDefault: true },
  lat_9: { kind: 'bigint', nullable: false, hasDefault: true },
  lat_10: { kind: 'bigint', nullable: false, hasDefault: true },
  lat_11: { kind: 'bigint', nullable: false, hasDefault: true },
} as const satisfies ColumnSpecsOf<UsageRollupsTable>;

export const TABLE_COLUMNS = {
  request_logs: REQUEST_LOG_COLUMNS,
  error_logs: ERROR_LOG_COLUMNS,
  usage_rollups: USAGE_ROLLUP_COLUMNS,
} as const satisfies { readonly [T in keyof Database]: ColumnSpecsOf<Database[T]> };

/** Index name → indexed columns, in order, as the migrations leave them (primary keys aside). */
export const TABLE_INDEXES = {
  request_logs: {
    // Migration 0003: the /api/logs orders (newest first, keyset on request_time, id), plain or
    // filtered by model or outcome; they replaced 0001's request_time, outcome and model_name ones.
    ix_request_logs_request_time_id: ['request_time', 'id'],
    ix_request_logs_outcome_request_time_id: ['outcome', 'request_time', 'id'],
    ix_request_logs_model_name_request_time_id: ['model_name', 'request_time', 'id'],
    ix_request_logs_created_at: ['created_at'],
    ix_request_logs_client_key: ['client_key'],
  },
  error_logs: {
    ix_error_logs_timestamp: ['timestamp'],
    ix_error_logs_model_name: ['model_name'],
    ix_error_logs_error_type: ['error_type'],
    ix_error_logs_created_at: ['created_at'],
    ix_error_logs_request_log_id: ['request_log_id'],
  },
  usage_rollups: {
    ix_usage_rollups_granularity_bucket_start: ['granularity', 'bucket_start'],
  },
} as const satisfies {
  readonly [T in keyof Database]: Readonly<Record<string, readonly (keyof Database[T])[]>>;
};

type ColumnSpecs = Readonly<Record<string, ColumnSpec>>;

interface DecodedKinds {
  uuid: string;
  text: string;
  integer: number;
  bigint: number;
  json: unknown;
  /** ISO-8601 UTC, e.g. 2026-01-07T12:00:00.000Z */
  timestamp: string;
  boolean: boolean;
}

interface InputKinds extends Omit<DecodedKinds, 'timestamp'> {
  timestamp: Date | string;
}

type OrNull<S extends ColumnSpec, V> = S['nullable'] extends true ? V | null : V;
type OptionalKeys<S extends ColumnSpecs> = {
  [K in keyof S]: S[K]['nullable'] extends true ? K : S[K]['hasDefault'] extends true ? K : never;
}[keyof S];

/** A row as `decodeRow` returns it: the same shape on both dialects. */
export type DecodedRow<S extends ColumnSpecs> = {
  -readonly [K in keyof S]: OrNull<S[K], DecodedKinds[S[K]['kind']]>;
};

/** What `encodeRow` accepts: nullable and defaulted columns may be left out. */
export type RowInput<S extends ColumnSpecs> = {
  [K in Exclude<keyof S, OptionalKeys<S>>]: InputKinds[S[K]['kind']];
} & {
  [K in OptionalKeys<S>]?: InputKinds[S[K]['kind']] | null;
};

export type RequestLogRow = DecodedRow<typeof REQUEST_LOG_COLUMNS>;
export type ErrorLogRow = DecodedRow<typeof ERROR_LOG_COLUMNS>;
export type RequestLogInput = RowInput<typeof REQUEST_LOG_COLUMNS>;
export type ErrorLogInput = RowInput<typeof ERROR_LOG_COLUMNS>;
