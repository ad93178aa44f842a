/**
 * The mapping of one finished RequestRecord onto its `request_logs` row and `error_logs` rows.
 * Pure and deterministic: the same record always yields the same rows (ids included), which is
 * what makes replaying a spool file idempotent (`ON CONFLICT (id) DO NOTHING`) for both tables.
 */
import { createHash } from 'node:crypto';
import type { HeaderSanitizer } from '../logging/sanitize.ts';
import { scrubRecord } from '../logging/scrub.ts';
import { toSnapshot } from '../logging/transcript.ts';
import type { RequestRecord, Usage } from '../logging/types.ts';
import { encodeValue } from './dialect.ts';
import type { Dialect } from './dialect.ts';
import { ERROR_LOG_COLUMNS, REQUEST_LOG_COLUMNS } from './schema.ts';
import type { ColumnSpec, ErrorLogInput, RequestLogInput } from './schema.ts';

export interface RecordRows {
  readonly request: RequestLogInput;
  readonly errors: ErrorLogInput[];
}

/** Encoded rows ready for an INSERT on one dialect. */
export interface EncodedRows {
  readonly requests: Record<string, unknown>[];
  readonly errors: Record<string, unknown>[];
}

/**
 * A UUID-shaped (version 5 style) id derived from the request id and the error's position, so a
 * record replayed from the spool produces the same error_logs ids as the first attempt did.
 */
export function errorLogId(requestId: string, index: number): string {
  const h = createHash('sha1').update(`${requestId}:${index}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

function tokens(usage: Usage | null, ...keys: string[]): number | null {
  if (!usage) return null;
  for (const key of keys) {
    const value = usage[key];
    if (typeof value === 'number' && Number.isFinite(value)) return value;
  }
  return null;
}

/**
 * Chunks beyond the capture bound are not kept; a trailing marker (same style as the body's
 * truncation marker) says how many, so a reader never mistakes a cut-off capture for the stream.
 */
function streamChunks(r: RequestRecord): unknown[] | null {
  if (!r.isStream && r.streamChunks.length === 0 && r.streamChunksDropped === 0) return null;
  if (r.streamChunksDropped === 0) return [...r.streamChunks];
  return [...r.streamChunks, { _truncated: true, _dropped_chunks: r.streamChunksDropped }];
}

/**
 * Every column of both tables except `created_at` (the database's clock) is written explicitly,
 * null included: multi-row INSERTs need the same column list for every row.
 * `sanitize` re-masks credentials (defence in depth, as the file sink does).
 */
export function recordToRows(record: RequestRecord, sanitize?: HeaderSanitizer): RecordRows {
  const r = sanitize ? scrubRecord(record, sanitize) : record;
  // The same snake_case shapes as the `.json` file, so files and rows never drift apart.
  const snap = toSnapshot(r);
  const usage = r.usage;
  const request: RequestLogInput = {
    id: r.id,
    request_time: r.requestTime,
    model_name: r.model,
    is_stream: r.isStream,
    path: r.path,
    method: r.method,
    query: r.query,
    headers: r.headers,
    body: r.body ?? null,
    route: [...r.route],
    backend_attempts: snap.attempts,
    stream_chunks: streamChunks(r),
    errors: snap.errors,
    usage_stats: usage ?? null,
    outcome: r.outcome,
    duration_ms: r.durationMs,
    status_code: r.statusCode,
    backend_name: r.backendName,
    finish_reason: r.finishReason,
    // The Responses API names them input/output tokens.
    prompt_tokens: tokens(usage, 'prompt_tokens', 'input_tokens'),
    completion_tokens: tokens(usage, 'completion_tokens', 'output_tokens'),
    total_tokens: tokens(usage, 'total_tokens'),
    ttfb_ms: r.ttfbMs,
    client_key: r.clientKey ?? null,
  };
  const errors = r.errors.map(
    (e, i): ErrorLogInput => ({
      id: errorLogId(r.id, i),
      timestamp: e.time,
      model_name: r.model,
      error_type: e.type,
      error_message: e.message,
      backend_name: e.backend,
      http_status: e.httpStatus,
      request_path: r.path,
      request_log_id: r.id,
      extra_context: e.context ?? null,
    }),
  );
  return { request, errors };
}

/** What JSON.stringify writes for U+0000 and for a lone surrogate (always lowercase hex). */
const NEEDS_CLEANING = /\\u0000|\\ud[89a-f]/;
/** The characters `cleanText` changes. */
const SUSPECT_CHAR = /[\u0000\uD800-\uDFFF]/;

/**
 * `encodeValue(dialect, 'json', v)` deep-copies the value to clean every string, which made it the
 * writer's hottest step. JSON.stringify escapes exactly the characters that cleaning removes, as
 * `\u` escapes, so the text itself says whether cleaning could change anything; only then is the
 * slow path taken. The result is identical either way.
 */
function encodeJson(dialect: Dialect, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  const text = JSON.stringify(value) as string | undefined;
  if (text === undefined || (text.includes('\\u') && NEEDS_CLEANING.test(text))) return encodeValue(dialect, 'json', value);
  return text;
}

/** `encodeValue` from dialect.ts with fast paths for clean JSON and text; same output. */
function encodeOne(dialect: Dialect, kind: ColumnSpec['kind'], value: unknown): unknown {
  if (kind === 'json') return encodeJson(dialect, value);
  if ((kind === 'text' || kind === 'uuid') && typeof value === 'string' && !SUSPECT_CHAR.test(value)) return value;
  return encodeValue(dialect, kind, value);
}

/** `encodeRow` from dialect.ts with the fast paths of `encodeOne`; same output. */
function encode(
  dialect: Dialect,
  specs: Readonly<Record<string, ColumnSpec>>,
  row: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name in specs) {
    const value = row[name];
    if (value !== undefined) out[name] = encodeOne(dialect, specs[name]!.kind, value);
  }
  return out;
}

/** The same values as `encode`, in `columns` order, absent ones null (what a prepared INSERT binds). */
function encodeValues(
  dialect: Dialect,
  specs: Readonly<Record<string, ColumnSpec>>,
  columns: readonly string[],
  row: Readonly<Record<string, unknown>>,
): unknown[] {
  const out = new Array<unknown>(columns.length);
  for (let i = 0; i < columns.length; i++) {
    const name = columns[i]!;
    const value = row[name];
    out[i] = value === undefined || value === null ? null : encodeOne(dialect, specs[name]!.kind, value);
  }
  return out;
}

/** Encodes one record's rows for `dialect` (what the writer inserts). */
export function encodeRecordRows(dialect: Dialect, rows: RecordRows): EncodedRows {
  return {
    requests: [encode(dialect, REQUEST_LOG_COLUMNS, rows.request)],
    errors: rows.errors.map((e) => encode(dialect, ERROR_LOG_COLUMNS, e)),
  };
}

/** Encoded rows as arrays of values in the given column orders (no intermediate objects). */
export interface EncodedValues {
  readonly requests: unknown[][];
  readonly errors: unknown[][];
}

/** `encodeRecordRows` as value arrays, for prepared statements (the SQLite writer thread). */
export function encodeRecordValues(
  dialect: Dialect,
  rows: RecordRows,
  columns: { readonly requests: readonly string[]; readonly errors: readonly string[] },
): EncodedValues {
  return {
    requests: [encodeValues(dialect, REQUEST_LOG_COLUMNS, columns.requests, rows.request)],
    errors: rows.errors.map((e) => encodeValues(dialect, ERROR_LOG_COLUMNS, columns.errors, e)),
  };
}
