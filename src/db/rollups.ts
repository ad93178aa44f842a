/**
 * Per-bucket, per-model usage aggregates, maintained by the writer in the same transaction as
 * the raw rows, so `/api/usage` reads O(buckets) rather than O(rows) and history outlives raw-row
 * retention. Three granularities: minute buckets (short retention, for "now"), hour buckets and
 * UTC-day buckets (both kept for ever by default; a day row always equals the sum of its hour
 * rows, which is what lets `usage-repo.ts` read whole days from day rows).
 */
import { isCanonicalIso, type Dialect } from './dialect.ts';

/** Upper bounds (ms) of the latency histogram; one more bucket holds everything above. */
export const LATENCY_BOUNDS_MS = [50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000] as const;
export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;
export const LATENCY_COLUMNS = Array.from({ length: LATENCY_BUCKETS }, (_, i) => `lat_${i}`);

export type Granularity = 'minute' | 'hour' | 'day';
export const GRANULARITIES: readonly Granularity[] = ['minute', 'hour', 'day'];
export const GRANULARITY_MS: Readonly<Record<Granularity, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** What a rollup needs of one inserted request row. */
export interface RollupSource {
  request_time: string;
  model_name: string;
  client_key?: string | null;
  outcome: string;
  is_stream: boolean;
  duration_ms: number | null;
  ttfb_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  total_tokens: number | null;
}

export interface RollupDelta {
  granularity: Granularity;
  bucket_start: string;
  model_name: string;
  client_key: string;
  request_count: number;
  success_count: number;
  error_count: number;
  cancelled_count: number;
  stream_count: number;
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

/** For canonical text a bucket start is a prefix of it plus zeros: [prefix length, zeros]. */
const BUCKET_TEXT: Readonly<Record<Granularity, readonly [number, string]>> = {
  minute: [17, '00.000Z'],
  hour: [14, '00:00.000Z'],
  day: [11, '00:00:00.000Z'],
};

/** Start of the UTC minute / hour / day (midnight) containing `iso`, as ISO-8601 text. */
export function bucketStart(iso: string, granularity: Granularity): string {
  // The writer's timestamps are canonical; cutting the text skips a parse and a format per
  // granularity, which was half the rollup hook's time. Anything else takes the general path.
  if (isCanonicalIso(iso)) {
    const [keep, zeros] = BUCKET_TEXT[granularity];
    return iso.slice(0, keep) + zeros;
  }
  const ms = Date.parse(iso);
  const size = GRANULARITY_MS[granularity];
  return new Date(ms - (((ms % size) + size) % size)).toISOString();
}

export function latencyBucket(ms: number): number {
  for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) if (ms <= LATENCY_BOUNDS_MS[i]!) return i;
  return LATENCY_BOUNDS_MS.length;
}

/** Folds rows into one delta per (granularity, bucket, model, client key). */
export function rollupDeltas(rows: readonly RollupSource[]): RollupDelta[] {
  const byKey = new Map<string, RollupDelta>();
  for (const row of rows) {
    for (const granularity of GRANULARITIES) {
      const bucket = bucketStart(row.request_time, granularity);
      const clientKey = row.client_key ?? '';
      const key = `${granularity}\u0000${bucket}\u0000${row.model_name}\u0000${clientKey}`;
      let d = byKey.get(key);
      if (!d) {
        d = emptyDelta(granularity, bucket, row.model_name, clientKey);
        byKey.set(key, d);
      }
      add(d, row);
    }
  }
  return [...byKey.values()];
}

function emptyDelta(granularity: Granularity, bucket: string, model: string, clientKey: string): RollupDelta {
  return {
    granularity,
    bucket_start: bucket,
    model_name: model,
    client_key: clientKey,
    request_count: 0,
    success_count: 0,
    error_count: 0,
    cancelled_count: 0,
    stream_count: 0,
    duration_sum_ms: 0,
    duration_count: 0,
    duration_min_ms: null,
    duration_max_ms: null,
    ttfb_sum_ms: 0,
    ttfb_count: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    total_tokens: 0,
    latency: new Array<number>(LATENCY_BUCKETS).fill(0),
  };
}

function add(d: RollupDelta, row: RollupSource): void {
  d.request_count++;
  if (row.outcome === 'success') d.success_count++;
  else if (row.outcome === 'cancelled') d.cancelled_count++;
  else d.error_count++;
  if (row.is_stream) d.stream_count++;
  if (row.duration_ms !== null) {
    d.duration_sum_ms += row.duration_ms;
    d.duration_count++;
    d.duration_min_ms = d.duration_min_ms === null ? row.duration_ms : Math.min(d.duration_min_ms, row.duration_ms);
    d.duration_max_ms = d.duration_max_ms === null ? row.duration_ms : Math.max(d.duration_max_ms, row.duration_ms);
    d.latency[latencyBucket(row.duration_ms)]!++;
  }
  if (row.ttfb_ms !== null) {
    d.ttfb_sum_ms += row.ttfb_ms;
    d.ttfb_count++;
  }
  d.prompt_tokens += row.prompt_tokens ?? 0;
  d.completion_tokens += row.completion_tokens ?? 0;
  d.total_tokens += row.total_tokens ?? 0;
}

const SUM_COLUMNS = [
  'request_count',
  'success_count',
  'error_count',
  'cancelled_count',
  'stream_count',
  'duration_sum_ms',
  'duration_count',
  'ttfb_sum_ms',
  'ttfb_count',
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  ...LATENCY_COLUMNS,
] as const;

export const ROLLUP_INSERT_COLUMNS = [
  'granularity',
  'bucket_start',
  'model_name',
  'client_key',
  'duration_min_ms',
  'duration_max_ms',
  ...SUM_COLUMNS,
] as const;

/** Parameters of one delta, in ROLLUP_INSERT_COLUMNS order. */
export function rollupParams(d: RollupDelta): unknown[] {
  return [
    d.granularity,
    d.bucket_start,
    d.model_name,
    d.client_key,
    d.duration_min_ms,
    d.duration_max_ms,
    d.request_count,
    d.success_count,
    d.error_count,
    d.cancelled_count,
    d.stream_count,
    d.duration_sum_ms,
    d.duration_count,
    d.ttfb_sum_ms,
    d.ttfb_count,
    d.prompt_tokens,
    d.completion_tokens,
    d.total_tokens,
    ...d.latency,
  ];
}

/**
 * A multi-row upsert adding `rows` deltas to existing buckets. SQLite's two-argument min()/max()
 * and PostgreSQL's LEAST()/GREATEST() both ignore a NULL side, which is what an empty bucket needs.
 */
export function rollupUpsertSql(dialect: Dialect, rows: number): string {
  const cols = ROLLUP_INSERT_COLUMNS.length;
  const values: string[] = [];
  for (let r = 0; r < rows; r++) {
    const ps: string[] = [];
    for (let c = 0; c < cols; c++) ps.push(dialect === 'postgres' ? `$${r * cols + c + 1}` : '?');
    if (dialect === 'postgres') ps[1] = `${ps[1]}::timestamptz`;
    values.push(`(${ps.join(', ')})`);
  }
  const [least, greatest] = dialect === 'postgres' ? ['LEAST', 'GREATEST'] : ['min', 'max'];
  const nullSafe = (fn: string, col: string) =>
    dialect === 'postgres'
      ? `${fn}(usage_rollups.${col}, excluded.${col})`
      : `coalesce(${fn}(usage_rollups.${col}, excluded.${col}), usage_rollups.${col}, excluded.${col})`;
  const updates = [
    `duration_min_ms = ${nullSafe(least, 'duration_min_ms')}`,
    `duration_max_ms = ${nullSafe(greatest, 'duration_max_ms')}`,
    ...SUM_COLUMNS.map((c) => `${c} = usage_rollups.${c} + excluded.${c}`),
  ];
  return (
    `INSERT INTO usage_rollups (${ROLLUP_INSERT_COLUMNS.join(', ')}) VALUES ${values.join(', ')} ` +
    `ON CONFLICT (granularity, bucket_start, model_name, client_key) DO UPDATE SET ${updates.join(', ')}`
  );
}

/** Rows per statement so the bound parameters stay under SQLite's limit (32 766). */
export const ROLLUP_ROWS_PER_STATEMENT = Math.floor(30_000 / ROLLUP_INSERT_COLUMNS.length);
