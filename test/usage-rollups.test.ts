import { describe, expect, it } from 'vitest';
import { bucketStart, latencyBucket, rollupDeltas, rollupUpsertSql, LATENCY_BUCKETS } from '../src/db/rollups.ts';
import { encodeValue } from '../src/db/dialect.ts';
import { histogramPercentile, totalSpans, trendSpans } from '../src/db/usage-repo.ts';
import { parseUsageQuery } from '../src/routes/usage.ts';

const row = (time: string, model: string, outcome: string, duration: number | null, extra: Record<string, unknown> = {}) => ({
  request_time: time,
  model_name: model,
  outcome,
  is_stream: false,
  duration_ms: duration,
  ttfb_ms: null,
  prompt_tokens: null,
  completion_tokens: null,
  total_tokens: null,
  ...extra,
});

describe('rollup deltas', () => {
  it('aligns buckets to UTC minutes, hours and days', () => {
    expect(bucketStart('2026-11-27T10:17:59.999Z', 'minute')).toBe('2026-11-27T10:17:00.000Z');
    expect(bucketStart('2026-11-27T10:17:59.999Z', 'hour')).toBe('2026-11-27T10:00:00.000Z');
    expect(bucketStart('2026-11-27T23:59:59.999Z', 'day')).toBe('2026-11-27T00:00:00.000Z');
    expect(bucketStart('2026-11-28T00:00:00.000Z', 'day')).toBe('2026-11-28T00:00:00.000Z');
    // UTC whatever the offset the instant was written with.
    expect(bucketStart('2026-11-28T01:30:00+02:00', 'day')).toBe('2026-11-27T00:00:00.000Z');
  });

  it('cuts canonical text exactly where parsing and formatting would land, leap days and year ends included', () => {
    const slow = (iso: string, size: number): string => {
      const ms = Date.parse(iso);
      return new Date(ms - (((ms % size) + size) % size)).toISOString();
    };
    const sizes = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
    const instants = ['2024-02-29T23:59:59.999Z', '2025-12-31T23:59:59.999Z', '2026-01-01T00:00:00.000Z', '1970-01-01T00:00:00.000Z'];
    for (let t = Date.UTC(2023, 11, 1); t < Date.UTC(2026, 2, 1); t += 7_919_113) instants.push(new Date(t).toISOString());
    for (const iso of instants) {
      for (const g of ['minute', 'hour', 'day'] as const) expect(bucketStart(iso, g), `${iso} ${g}`).toBe(slow(iso, sizes[g]));
      expect(encodeValue('sqlite', 'timestamp', iso)).toBe(new Date(iso).toISOString());
    }
    // Canonical-looking text that is not what toISOString writes takes the general path.
    expect(encodeValue('sqlite', 'timestamp', '2026-02-30T00:00:00.000Z')).toBe('2026-03-02T00:00:00.000Z');
    expect(bucketStart('2026-01-01T24:00:00.000Z', 'day')).toBe('2026-01-02T00:00:00.000Z');
    expect(() => encodeValue('sqlite', 'timestamp', '2026-13-01T00:00:00.000Z')).toThrow(/not a valid timestamp/);
  });

  it('puts latencies in the histogram bucket whose bound holds them', () => {
    expect([0, 50, 51, 100, 120_000, 120_001].map(latencyBucket)).toEqual([0, 0, 1, 1, 10, 11]);
  });

  it('folds rows into one delta per granularity, bucket, model and key', () => {
    const deltas = rollupDeltas([
      row('2026-11-27T10:01:10Z', 'a', 'success', 40, { total_tokens: 10, prompt_tokens: 4, completion_tokens: 6, ttfb_ms: 5, is_stream: true }),
      row('2026-11-27T10:01:50Z', 'a', 'error', 400),
      row('2026-11-27T10:02:00Z', 'a', 'cancelled', null, { client_key: 'team-x' }),
      row('2026-11-27T10:59:00Z', 'b', 'success', 1000),
    ]);
    const pick = (g: string, b: string, m: string, k = '') => deltas.find((d) => d.granularity === g && d.bucket_start === b && d.model_name === m && d.client_key === k)!;
    const hourA = pick('hour', '2026-11-27T10:00:00.000Z', 'a');
    expect(hourA).toMatchObject({
      request_count: 2,
      success_count: 1,
      error_count: 1,
      cancelled_count: 0,
      stream_count: 1,
      duration_sum_ms: 440,
      duration_count: 2,
      duration_min_ms: 40,
      duration_max_ms: 400,
      ttfb_sum_ms: 5,
      ttfb_count: 1,
      prompt_tokens: 4,
      completion_tokens: 6,
      total_tokens: 10,
    });
    expect(hourA.latency).toEqual([1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(pick('minute', '2026-11-27T10:02:00.000Z', 'a', 'team-x')).toMatchObject({ request_count: 1, cancelled_count: 1, duration_min_ms: null, duration_count: 0 });
    expect(deltas.filter((d) => d.granularity === 'minute')).toHaveLength(3);
    expect(deltas.filter((d) => d.granularity === 'hour')).toHaveLength(3);
    expect(deltas.filter((d) => d.granularity === 'day')).toHaveLength(3);
    // All four rows are on one UTC day: the day rows hold what the hour rows hold.
    const { granularity: _h, bucket_start: _hb, ...hourRest } = hourA;
    expect(pick('day', '2026-11-27T00:00:00.000Z', 'a')).toEqual({ granularity: 'day', bucket_start: '2026-11-27T00:00:00.000Z', ...hourRest });
    expect(pick('day', '2026-11-27T00:00:00.000Z', 'b')).toMatchObject({ request_count: 1, duration_min_ms: 1000, duration_max_ms: 1000 });
    expect(hourA.latency).toHaveLength(LATENCY_BUCKETS);
  });

  it('renders a multi-row upsert per dialect', () => {
    const pg = rollupUpsertSql('postgres', 2);
    expect(pg).toContain('$1, $2::timestamptz');
    expect(pg).toContain('ON CONFLICT (granularity, bucket_start, model_name, client_key) DO UPDATE SET');
    expect(pg).toContain('LEAST(usage_rollups.duration_min_ms, excluded.duration_min_ms)');
    const lite = rollupUpsertSql('sqlite', 1);
    expect(lite).not.toContain('$');
    expect(lite).toContain('coalesce(min(usage_rollups.duration_min_ms, excluded.duration_min_ms), usage_rollups.duration_min_ms, excluded.duration_min_ms)');
  });
});

describe('where a window is read from', () => {
  const q = (start: string, end: string, bucket: 'minute' | 'hour' | 'day') => ({ start: new Date(start), end: new Date(end), bucket });
  const show = (spans: ReturnType<typeof totalSpans>) => spans.map((s) => `${s.granularity} ${s.start.toISOString()} ${s.end.toISOString()}`);

  it('reads whole UTC days from day rollups and the partial days at the edges from hour rollups', () => {
    const w = q('2026-11-24T05:00:00Z', '2026-11-27T14:00:00Z', 'hour');
    expect(show(totalSpans(w))).toEqual([
      'hour 2026-11-24T05:00:00.000Z 2026-11-25T00:00:00.000Z',
      'day 2026-11-25T00:00:00.000Z 2026-11-27T00:00:00.000Z',
      'hour 2026-11-27T00:00:00.000Z 2026-11-27T14:00:00.000Z',
    ]);
    expect(show(trendSpans(w))).toEqual(['hour 2026-11-24T05:00:00.000Z 2026-11-27T14:00:00.000Z']);
  });

  it('uses only hour rollups when no whole day is inside, and only day rollups for day-aligned windows', () => {
    const day = q('2026-10-28T00:00:00Z', '2026-11-28T00:00:00Z', 'day');
    expect(show(totalSpans(day))).toEqual(['day 2026-10-28T00:00:00.000Z 2026-11-28T00:00:00.000Z']);
    expect(trendSpans(day)).toEqual(totalSpans(day));
    const last24h = q('2026-11-26T10:00:00Z', '2026-11-27T11:00:00Z', 'hour');
    expect(show(totalSpans(last24h))).toEqual(['hour 2026-11-26T10:00:00.000Z 2026-11-27T11:00:00.000Z']);
    expect(show(totalSpans(q('2026-11-26T00:00:00Z', '2026-11-27T05:00:00Z', 'hour')))).toEqual([
      'day 2026-11-26T00:00:00.000Z 2026-11-27T00:00:00.000Z',
      'hour 2026-11-27T00:00:00.000Z 2026-11-27T05:00:00.000Z',
    ]);
    expect(show(totalSpans(q('2026-11-26T09:17:00Z', '2026-11-27T10:18:00Z', 'minute')))).toEqual(['minute 2026-11-26T09:17:00.000Z 2026-11-27T10:18:00.000Z']);
  });
});

describe('histogram percentiles', () => {
  it('interpolates inside the bucket holding the rank, clamped to min/max', () => {
    const h = new Array(12).fill(0);
    h[0] = 50; // ≤ 50 ms
    h[2] = 50; // 100..250 ms
    expect(histogramPercentile(h, 0.5, 10, 240)).toBe(50);
    // rank 95: 45 of the 50 in 100..240 → 100 + 140 × 0.9
    expect(histogramPercentile(h, 0.95, 10, 240)).toBe(226);
    expect(histogramPercentile(new Array(12).fill(0), 0.5, null, null)).toBeNull();
  });
});

describe('usage query parameters', () => {
  const now = new Date('2026-11-27T10:17:30Z');
  const parse = (qs: string) => parseUsageQuery(new URLSearchParams(qs), now);

  it('defaults to the last 24 h in hour buckets, aligned', () => {
    expect(parse('')).toEqual({
      query: { start: new Date('2026-11-26T10:00:00Z'), end: new Date('2026-11-27T11:00:00Z'), bucket: 'hour', model: undefined, clientKey: undefined },
    });
  });

  it('picks minute buckets for short windows and day buckets for long ones', () => {
    expect('query' in parse('hours=1') && parse('hours=1')).toMatchObject({ query: { bucket: 'minute', start: new Date('2026-11-27T09:17:00Z'), end: new Date('2026-11-27T10:18:00Z') } });
    expect(parse('hours=720')).toMatchObject({ query: { bucket: 'day', start: new Date('2026-10-28T00:00:00Z'), end: new Date('2026-11-28T00:00:00Z') } });
  });

  it.each([
    ['hours=0', 'hours'],
    ['hours=abc', 'hours'],
    ['start=yesterday', 'start'],
    ['start=2026-11-27T00:00:00Z&hours=3', 'hours'],
    ['start=2026-11-28T00:00:00Z&end=2026-11-27T00:00:00Z', 'start'],
    ['bucket=week', 'bucket'],
    ['hours=8760&bucket=minute', 'bucket'],
  ])('rejects %s (param %s)', (qs, param) => {
    expect(parse(qs)).toMatchObject({ param });
  });
});
