import { sql, type Kysely } from 'kysely';
import type { Dialect } from './dialect.ts';
import { GRANULARITY_MS, LATENCY_BOUNDS_MS, LATENCY_COLUMNS, type Granularity } from './rollups.ts';
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

/**
 * A stretch of the window read from one granularity of rollups: the rows whose bucket_start is in
 * [start, end).
 */
export interface Span {
  granularity: Granularity;
  start: Date;
  end: Date;
}

const DAY_MS = GRANULARITY_MS.day;

/**
 * The spans a window's per-model totals are read from. Minute windows read minute rows, as their
 * trend does. Otherwise the whole UTC days inside the window come from day rows and the partial
 * days at its edges from hour rows: a day row is the sum of its hour rows (the writer upserts both
 * in one transaction, migration 0004 built the old ones from the hour rows, retention removes
 * both by whole days), so the totals are exactly those of the hour rows, at a 24th of the reads.
 */
export function totalSpans(q: UsageQuery): Span[] {
  if (q.bucket === 'minute') return [{ granularity: 'minute', start: q.start, end: q.end }];
  const s = q.start.getTime();
  const e = q.end.getTime();
  const firstDay = Math.ceil(s / DAY_MS) * DAY_MS;
  const lastDay = Math.floor(e / DAY_MS) * DAY_MS;
  if (firstDay >= lastDay) return [{ granularity: 'hour', start: q.start, end: q.end }];
  const spans: Span[] = [];
  if (s < firstDay) spans.push({ granularity: 'hour', start: q.start, end: new Date(firstDay) });
  spans.push({ granularity: 'day', start: new Date(firstDay), end: new Date(lastDay) });
  if (lastDay < e) spans.push({ granularity: 'hour', start: new Date(lastDay), end: q.end });
  return spans;
}

/**
 * The spans a window's trend is read from: rows of the bucket's own granularity; for day buckets
 * the same spans as the totals (only day rows when the window is aligned to days, as the route
 * aligns it).
 */
export function trendSpans(q: UsageQuery): Span[] {
  if (q.bucket === 'day') return totalSpans(q);
  return [{ granularity: q.bucket, start: q.start, end: q.end }];
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
const TREND_SUMS = ['request_count', 'success_count', 'error_count', 'cancelled_count', 'total_tokens'];

function where(dialect: Dialect, q: UsageQuery, spans: readonly Span[]) {
  const ts = (d: Date) => (dialect === 'postgres' ? sql`${d.toISOString()}::timestamptz` : sql`${d.toISOString()}`);
  const span = (p: Span) => sql`(granularity = ${p.granularity} AND bucket_start >= ${ts(p.start)} AND bucket_start < ${ts(p.end)})`;
  const parts = [spans.length === 1 ? span(spans[0]!) : sql`(${sql.join(spans.map(span), sql` OR `)})`];
  if (q.model !== undefined) parts.push(sql`model_name = ${q.model}`);
  if (q.clientKey !== undefined) parts.push(sql`client_key = ${q.clientKey}`);
  return sql.join(parts, sql` AND `);
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());
const sumsOf = (columns: readonly string[]) => sql.join(columns.map((c) => sql`sum(${sql.ref(c)}) AS ${sql.ref(c)}`));
const minMax = sql`min(duration_min_ms) AS duration_min_ms, max(duration_max_ms) AS duration_max_ms`;

function toModelStats(r: Record<string, unknown>): ModelStats {
  return {
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
  };
}

function toTrendRow(r: Record<string, unknown>): TrendRow {
  return {
    bucket_start: iso(r.bucket_start),
    requests: num(r.request_count),
    success: num(r.success_count),
    errors: num(r.error_count),
    cancelled: num(r.cancelled_count),
    total_tokens: num(r.total_tokens),
  };
}

/** Per-model totals of the window (whole days from day rollups, see `totalSpans`). */
export async function modelStats(db: Kysely<Database>, dialect: Dialect, q: UsageQuery): Promise<ModelStats[]> {
  const { rows } = await sql<Record<string, unknown>>`
    SELECT model_name, ${sumsOf(SUMS)}, ${minMax}
    FROM usage_rollups WHERE ${where(dialect, q, totalSpans(q))}
    GROUP BY model_name`.execute(db);
  return rows.map(toModelStats);
}

/** Per-bucket counts of the window, oldest first (see `trendSpans`). */
export async function trendRows(db: Kysely<Database>, dialect: Dialect, q: UsageQuery): Promise<TrendRow[]> {
  const { rows } = await sql<Record<string, unknown>>`
    SELECT bucket_start, ${sumsOf(TREND_SUMS)}
    FROM usage_rollups WHERE ${where(dialect, q, trendSpans(q))}
    GROUP BY bucket_start`.execute(db);
  const trends = new Map<string, TrendRow>();
  for (const r of rows) addTrend(trends, q.bucket, toTrendRow(r));
  return sortedTrends(trends);
}

/** Adds a rollup bucket's counts to the trend bucket holding it (an hour row to its day). */
function addTrend(trends: Map<string, TrendRow>, bucket: Bucket, t: TrendRow): void {
  const size = GRANULARITY_MS[bucket];
  const key = new Date(Math.floor(Date.parse(t.bucket_start) / size) * size).toISOString();
  const known = trends.get(key);
  if (!known) {
    trends.set(key, { ...t, bucket_start: key });
    return;
  }
  known.requests += t.requests;
  known.success += t.success;
  known.errors += t.errors;
  known.cancelled += t.cancelled;
  known.total_tokens += t.total_tokens;
}

const sortedTrends = (trends: Map<string, TrendRow>): TrendRow[] =>
  [...trends.values()].sort((a, b) => (a.bucket_start < b.bucket_start ? -1 : a.bucket_start > b.bucket_start ? 1 : 0));

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
