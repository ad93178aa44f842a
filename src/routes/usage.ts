import { Hono } from 'hono';
import type { Kysely } from 'kysely';
import type { AppDeps } from '../app.ts';
import type { Dialect } from '../db/dialect.ts';
import type { Database } from '../db/schema.ts';
import {
  histogramPercentile,
  modelStats,
  trendRows,
  type Bucket,
  type ModelStats,
  type TrendRow,
  type UsageQuery,
} from '../db/usage-repo.ts';
import { errorResponse, errors } from '../openai/errors.ts';

export interface UsageSource {
  db: Kysely<Database>;
  dialect: Dialect;
}

const BUCKET_MS: Record<Bucket, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
/** Most buckets one answer may hold, so a year of minutes cannot be asked for. */
const MAX_BUCKETS = 2000;

/** `GET /api/usage`: realtime counters + historical usage read from the rollup tables. */
export function usageRoutes(deps: AppDeps): Hono {
  const app = new Hono();
  app.get('/api/usage', async (c) => {
    const now = deps.now?.() ?? new Date();
    const parsed = parseUsageQuery(new URL(c.req.url).searchParams, now);
    if ('error' in parsed) return errorResponse(errors.invalidParameter(parsed.param, parsed.error));
    const q = parsed.query;
    const window = {
      start: q.start.toISOString(),
      end: q.end.toISOString(),
      hours: Math.round(((q.end.getTime() - q.start.getTime()) / 3_600_000) * 1000) / 1000,
      bucket: q.bucket,
      model: q.model ?? null,
    };
    let historical: Record<string, unknown>;
    const source = deps.usage?.() ?? null;
    if (!deps.getConfig().database.enabled) {
      historical = { enabled: false, status: 'unavailable', provider: 'database', window };
    } else if (!source) {
      historical = { enabled: true, status: 'error', provider: 'database', window, message: 'the database has not been reachable since start-up' };
    } else {
      try {
        historical = { enabled: true, status: 'available', provider: 'database', window, ...(await historicalUsage(source, q)) };
      } catch (err) {
        deps.log.warn(`/api/usage: database query failed: ${(err as Error)?.message ?? String(err)}`);
        historical = { enabled: true, status: 'error', provider: 'database', window, message: (err as Error)?.message ?? String(err) };
      }
    }
    return c.json({ generated_at: now.toISOString(), realtime: deps.counters.snapshot(), historical });
  });
  return app;
}

type Parsed = { query: UsageQuery } | { error: string; param: string };

const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:(Z)|([+\- ])(\d{2}):?(\d{2}))?)?$/i;

/**
 * An ISO-8601 date (`2026-11-27`, UTC midnight) or date-time (`2026-11-27T10:00`, seconds and
 * fraction optional) with `Z` or a `±HH:MM` offset; without one it is UTC. `new Date(text)` is
 * not used: it takes a date-time without offset as the *server's* local time and accepts
 * non-ISO text (`new Date('1')` is 2001). A space before the offset is read as `+`, since an
 * unencoded `+` in a query string arrives as a space. Null for anything else, or an impossible
 * date (`2026-02-30`, `24:00`).
 */
export function parseInstant(text: string): Date | null {
  const m = ISO_INSTANT.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', , sign, oh, om] = m;
  const ms = Number(frac.padEnd(3, '0').slice(0, 3));
  const fields = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)] as const;
  const local = Date.UTC(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], ms);
  const check = new Date(local);
  if (
    check.getUTCFullYear() !== fields[0] ||
    check.getUTCMonth() !== fields[1] ||
    check.getUTCDate() !== fields[2] ||
    check.getUTCHours() !== fields[3] ||
    check.getUTCMinutes() !== fields[4] ||
    check.getUTCSeconds() !== fields[5]
  ) {
    return null;
  }
  let offsetMin = 0;
  if (sign !== undefined) {
    const hh = Number(oh);
    const mm = Number(om);
    if (hh > 23 || mm > 59) return null;
    offsetMin = (sign === '-' ? -1 : 1) * (hh * 60 + mm);
  }
  return new Date(local - offsetMin * 60_000);
}

export function parseUsageQuery(params: URLSearchParams, now: Date): Parsed {
  const hoursRaw = params.get('hours');
  const startRaw = params.get('start');
  const endRaw = params.get('end');
  let end = endRaw ? parseInstant(endRaw) : now;
  if (end === null) return { error: `'end' must be an ISO-8601 timestamp`, param: 'end' };
  let start: Date;
  if (startRaw) {
    if (hoursRaw) return { error: `give either 'hours' or 'start'/'end', not both`, param: 'hours' };
    const parsedStart = parseInstant(startRaw);
    if (parsedStart === null) return { error: `'start' must be an ISO-8601 timestamp`, param: 'start' };
    start = parsedStart;
  } else {
    const hours = hoursRaw === null ? 24 : Number(hoursRaw);
    if (!Number.isFinite(hours) || hours <= 0 || hours > 24 * 366 * 5) {
      return { error: `'hours' must be a positive number of hours (at most 5 years)`, param: 'hours' };
    }
    start = new Date(end.getTime() - hours * 3_600_000);
  }
  if (start >= end) return { error: `'start' must be before 'end'`, param: 'start' };
  const span = end.getTime() - start.getTime();
  const bucketRaw = params.get('bucket');
  let bucket: Bucket;
  if (bucketRaw === null) bucket = span <= 3 * 3_600_000 ? 'minute' : span <= 14 * 86_400_000 ? 'hour' : 'day';
  else if (bucketRaw === 'minute' || bucketRaw === 'hour' || bucketRaw === 'day') bucket = bucketRaw;
  else return { error: `'bucket' must be one of minute, hour, day`, param: 'bucket' };
  start = new Date(Math.floor(start.getTime() / BUCKET_MS[bucket]) * BUCKET_MS[bucket]);
  end = new Date(Math.ceil(end.getTime() / BUCKET_MS[bucket]) * BUCKET_MS[bucket]);
  if ((end.getTime() - start.getTime()) / BUCKET_MS[bucket] > MAX_BUCKETS) {
    return { error: `that window has more than ${MAX_BUCKETS} ${bucket} buckets; use a larger bucket`, param: 'bucket' };
  }
  const model = params.get('model');
  const key = params.get('key');
  return { query: { start, end, bucket, model: model || undefined, clientKey: key ?? undefined } };
}

/**
 * `part / whole` to 4 decimals and `sum / count` to 0.1, halves rounded up. The integer numerator
 * is scaled before dividing: `(57 / 800) * 10_000` is 712.4999… in floating point and would give
 * 0.0712 where 57 / 800 = 0.07125 rounds to 0.0713.
 */
export const rate = (part: number, whole: number): number | null => (whole === 0 ? null : Math.round((part * 10_000) / whole) / 10_000);
export const avg = (sum: number, count: number): number | null => (count === 0 ? null : Math.round((sum * 10) / count) / 10);

async function historicalUsage(source: UsageSource, q: UsageQuery): Promise<Record<string, unknown>> {
  const [models, trends] = await Promise.all([modelStats(source.db, source.dialect, q), trendRows(source.db, source.dialect, q)]);
  models.sort((a, b) => b.requests - a.requests || a.model_name.localeCompare(b.model_name));
  const total = models.reduce(
    (t, m) => {
      t.requests += m.requests;
      t.success += m.success;
      t.errors += m.errors;
      t.cancelled += m.cancelled;
      t.duration_sum_ms += m.duration_sum_ms;
      t.duration_count += m.duration_count;
      t.prompt_tokens += m.prompt_tokens;
      t.completion_tokens += m.completion_tokens;
      t.total_tokens += m.total_tokens;
      return t;
    },
    { requests: 0, success: 0, errors: 0, cancelled: 0, duration_sum_ms: 0, duration_count: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
  );
  return {
    total_stats: {
      total_requests: total.requests,
      successful_requests: total.success,
      failed_requests: total.errors,
      cancelled_requests: total.cancelled,
      success_rate: rate(total.success, total.requests),
      avg_duration_ms: avg(total.duration_sum_ms, total.duration_count),
      prompt_tokens: total.prompt_tokens,
      completion_tokens: total.completion_tokens,
      total_tokens: total.total_tokens,
    },
    requests_by_model: models.map((m) => ({ model_name: m.model_name, count: m.requests })),
    error_rates: models.map((m) => ({
      model_name: m.model_name,
      total_requests: m.requests,
      error_count: m.errors,
      error_rate: rate(m.errors, m.requests),
    })),
    avg_response_times: models.map((m) => responseTimes(m)),
    tokens_by_model: models.map((m) => ({
      model_name: m.model_name,
      prompt_tokens: m.prompt_tokens,
      completion_tokens: m.completion_tokens,
      total_tokens: m.total_tokens,
    })),
    usage_trends: fillTrends(trends, q),
  };
}

function responseTimes(m: ModelStats) {
  return {
    model_name: m.model_name,
    avg_duration_ms: avg(m.duration_sum_ms, m.duration_count),
    min_duration_ms: m.duration_min_ms,
    max_duration_ms: m.duration_max_ms,
    p50_duration_ms: histogramPercentile(m.latency, 0.5, m.duration_min_ms, m.duration_max_ms),
    p95_duration_ms: histogramPercentile(m.latency, 0.95, m.duration_min_ms, m.duration_max_ms),
    avg_ttfb_ms: avg(m.ttfb_sum_ms, m.ttfb_count),
  };
}

/** Oldest first, one entry per bucket of the window, empty ones as zeros. */
function fillTrends(rows: readonly TrendRow[], q: UsageQuery) {
  const size = BUCKET_MS[q.bucket];
  const byBucket = new Map<number, { count: number; success: number; errors: number; cancelled: number; tokens: number }>();
  for (const r of rows) {
    const t = Date.parse(r.bucket_start);
    const b = Math.floor(t / size) * size;
    const e = byBucket.get(b) ?? { count: 0, success: 0, errors: 0, cancelled: 0, tokens: 0 };
    e.count += r.requests;
    e.success += r.success;
    e.errors += r.errors;
    e.cancelled += r.cancelled;
    e.tokens += r.total_tokens;
    byBucket.set(b, e);
  }
  const out = [];
  for (let t = q.start.getTime(); t < q.end.getTime(); t += size) {
    const e = byBucket.get(t) ?? { count: 0, success: 0, errors: 0, cancelled: 0, tokens: 0 };
    out.push({ bucket_start: new Date(t).toISOString(), ...e });
  }
  return out;
}
