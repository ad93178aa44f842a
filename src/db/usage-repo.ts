import { sql, type Kysely } from 'kysely';
import type { Dialect } from './dialect.ts';
import { LATENCY_BOUNDS_MS, LATENCY_COLUMNS, type Granularity } from './rollups.ts';
import type { Database } from './schema.ts';

export type Bucket = 'minute' | 'hour' | 'day';

export interface UsageQuery {
  /** Inclusive, aligned down to the bucket by the caller. */
  start: Date;
  /** Exclusive. */
  end: Date;
  bucket: Bucket;
  model?: string | undefined;
  clientKey?: string | undefined;
}

export interface ModelStats {
  model_name: string;
  requests: number;
  success: number;
  errors: number;
  cancelled: number;
  duration_sum_ms: number;
  duration_count: number;
  duration_min_ms: number | null;
  duration_max_ms: number | null;
  ttfb_sum_ms: number;
  ttfb_count: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  latency: number[];
}

export interface TrendRow {
  bucket_start: string;
  requests: number;
  success: number;
  errors: number;
  cancelled: number;
  total_tokens: number;
}

/** Day buckets are summed from hour rollups; minute windows read the minute rollups. */
export function sourceGranularity(bucket: Bucket): Granularity {
  return bucket === 'minute' ? 'minute' : 'hour';
}

const SUMS = [
  'request_count',
  'success_count',
  'error_count',
  'cancelled_count',
  'duration_sum_ms',
  'duration_count',
  'ttfb_sum_ms',
  'ttfb_count',
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  ...LATENCY_COLUMNS,
];

function where(dialect: Dialect, q: UsageQuery) {
  const ts = (d: Date) => (dialect === 'postgres' ? sql`${d.toISOString()}::timestamptz` : sql`${d.toISOString()}`);
  const parts = [
    sql`granularity = ${sourceGranularity(q.bucket)}`,
    sql`bucket_start >= ${ts(q.start)}`,
    sql`bucket_start < ${ts(q.end)}`,
  ];
  if (q.model !== undefined) parts.push(sql`model_name = ${q.model}`);
  if (q.clientKey !== undefined) parts.push(sql`client_key = ${q.clientKey}`);
  return sql.join(parts, sql` AND `);
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export async function modelStats(db: Kysely<Database>, dialect: Dialect, q: UsageQuery): Promise<ModelStats[]> {
  const sums = sql.join(SUMS.map((c) => sql`sum(${sql.ref(c)}) AS ${sql.ref(c)}`));
  const { rows } = await sql<Record<string, unknown>>`
    SELECT model_name, ${sums}, min(duration_min_ms) AS duration_min_ms, max(duration_max_ms) AS duration_max_ms
    FROM usage_rollups WHERE ${where(dialect, q)}
    GROUP BY model_name`.execute(db);
  return rows.map((r) => ({
    model_name: String(r.model_name),
    requests: num(r.request_count),
    success: num(r.success_count),
    errors: num(r.error_count),
    cancelled: num(r.cancelled_count),
    duration_sum_ms: num(r.duration_sum_ms),
    duration_count: num(r.duration_count),
    duration_min_ms: numOrNull(r.duration_min_ms),
    duration_max_ms: numOrNull(r.duration_max_ms),
    ttfb_sum_ms: num(r.ttfb_sum_ms),
    ttfb_count: num(r.ttfb_count),
    prompt_tokens: num(r.prompt_tokens),
    completion_tokens: num(r.completion_tokens),
    total_tokens: num(r.total_tokens),
    latency: LATENCY_COLUMNS.map((c) => num(r[c])),
  }));
}

export async function trendRows(db: Kysely<Database>, dialect: Dialect, q: UsageQuery): Promise<TrendRow[]> {
  const { rows } = await sql<Record<string, unknown>>`
    SELECT bucket_start, sum(request_count) AS requests, sum(success_count) AS success,
           sum(error_count) AS errors, sum(cancelled_count) AS cancelled, sum(total_tokens) AS total_tokens
    FROM usage_rollups WHERE ${where(dialect, q)}
    GROUP BY bucket_start ORDER BY bucket_start`.execute(db);
  return rows.map((r) => ({
    bucket_start: r.bucket_start instanceof Date ? r.bucket_start.toISOString() : new Date(String(r.bucket_start)).toISOString(),
    requests: num(r.requests),
    success: num(r.success),
    errors: num(r.errors),
    cancelled: num(r.cancelled),
    total_tokens: num(r.total_tokens),
  }));
}

/**
 * Percentile estimated from the latency histogram: linear within the bucket that holds the
 * rank, clamped to the observed min/max. Exact enough for a dashboard, and O(buckets).
 */
export function histogramPercentile(latency: readonly number[], p: number, min: number | null, max: number | null): number | null {
  const total = latency.reduce((a, b) => a + b, 0);
  if (total === 0 || min === null || max === null) return null;
  const rank = p * total;
  let seen = 0;
  for (let i = 0; i < latency.length; i++) {
    const count = latency[i]!;
    if (count === 0) continue;
    if (seen + count >= rank) {
      const lower = Math.max(i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!, min);
      const upper = Math.min(LATENCY_BOUNDS_MS[i] ?? max, max);
      const frac = (rank - seen) / count;
      return Math.round(lower + (upper - lower) * frac);
    }
    seen += count;
  }
  return max;
}
