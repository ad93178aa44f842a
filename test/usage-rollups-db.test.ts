import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { ROLLUP_HOOK } from '../src/db/logging.ts';
import { migrateDown, migrateToLatest } from '../src/db/migrator.ts';
import { GRANULARITY_MS, LATENCY_BOUNDS_MS, LATENCY_BUCKETS, type Granularity } from '../src/db/rollups.ts';
import { modelStats, totalSpans, trendRows, type ModelStats, type TrendRow, type UsageQuery } from '../src/db/usage-repo.ts';
import { createDbWriter } from '../src/db/writer.ts';
import type { Outcome, RequestRecord } from '../src/logging/types.ts';
import { withDialect, type TestDb } from './helpers/db.ts';
import { testLogger } from './helpers/proxy.ts';

const pgUrl = inject('pgUrl');

/** Deterministic pseudo-random numbers, so a failure can be replayed with the same seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const MODELS = ['alpha', 'beta', 'gamma/x'];
const OUTCOMES: Outcome[] = ['success', 'success', 'success', 'error', 'cancelled'];
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Records fall in [BASE, BASE + SPAN): four days and a bit, starting and ending mid-day. */
const BASE_MS = Date.parse('2026-11-24T06:00:00.000Z');
const SPAN_MS = 4 * DAY + 5 * HOUR;

function randomRecord(rand: () => number, i: number): RequestRecord {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const hasUsage = rand() < 0.7;
  const prompt = Math.floor(rand() * 500);
  const completion = Math.floor(rand() * 800);
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    requestTime: new Date(BASE_MS + Math.floor(rand() * SPAN_MS)).toISOString(),
    model: pick(MODELS),
    isStream: rand() < 0.5,
    path: '/v1/chat/completions',
    method: 'POST',
    query: '',
    headers: {},
    body: null,
    bodyTruncated: false,
    route: [],
    attempts: [],
    streamChunks: [],
    streamChunksDropped: 0,
    errors: [],
    usage: hasUsage ? { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } : null,
    finishReason: null,
    outcome: pick(OUTCOMES),
    statusCode: 200,
    backendName: null,
    // A spread over every latency bucket, plus some with no duration at all.
    durationMs: rand() < 0.05 ? (null as unknown as number) : Math.floor(rand() ** 3 * 150_000),
    ttfbMs: rand() < 0.3 ? null : Math.floor(rand() * 2000),
    responseBody: null,
    clientKey: rand() < 0.5 ? 'team-a' : null,
  };
}

const inWindow = (records: readonly RequestRecord[], q: UsageQuery) =>
  records.filter((r) => {
    const t = Date.parse(r.requestTime);
    return (
      t >= q.start.getTime() &&
      t < q.end.getTime() &&
      (q.model === undefined || r.model === q.model) &&
      (q.clientKey === undefined || (r.clientKey ?? '') === q.clientKey)
    );
  });

/** Per-model stats computed straight from the records, the way a raw-table aggregation would. */
function expectedStats(records: readonly RequestRecord[], q: UsageQuery): ModelStats[] {
  const byModel = new Map<string, ModelStats>();
  for (const r of inWindow(records, q)) {
    let m = byModel.get(r.model);
    if (!m) {
      m = {
        model_name: r.model,
        requests: 0,
        success: 0,
        errors: 0,
        cancelled: 0,
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
      byModel.set(r.model, m);
    }
    m.requests++;
    if (r.outcome === 'success') m.success++;
    else if (r.outcome === 'cancelled') m.cancelled++;
    else m.errors++;
    if (r.durationMs !== null) {
      m.duration_sum_ms += r.durationMs;
      m.duration_count++;
      m.duration_min_ms = m.duration_min_ms === null ? r.durationMs : Math.min(m.duration_min_ms, r.durationMs);
      m.duration_max_ms = m.duration_max_ms === null ? r.durationMs : Math.max(m.duration_max_ms, r.durationMs);
      const bucket = LATENCY_BOUNDS_MS.findIndex((bound) => r.durationMs <= bound);
      m.latency[bucket === -1 ? LATENCY_BOUNDS_MS.length : bucket]!++;
    }
    if (r.ttfbMs !== null) {
      m.ttfb_sum_ms += r.ttfbMs;
      m.ttfb_count++;
    }
    m.prompt_tokens += r.usage?.prompt_tokens ?? 0;
    m.completion_tokens += r.usage?.completion_tokens ?? 0;
    m.total_tokens += r.usage?.total_tokens ?? 0;
  }
  return [...byModel.values()].sort(byName);
}

/** Per-bucket counts from the records: buckets with at least one request, oldest first. */
function expectedTrend(records: readonly RequestRecord[], q: UsageQuery): TrendRow[] {
  const size = GRANULARITY_MS[q.bucket];
  const byBucket = new Map<number, TrendRow>();
  for (const r of inWindow(records, q)) {
    const b = Math.floor(Date.parse(r.requestTime) / size) * size;
    const t = byBucket.get(b) ?? { bucket_start: new Date(b).toISOString(), requests: 0, success: 0, errors: 0, cancelled: 0, total_tokens: 0 };
    t.requests++;
    if (r.outcome === 'success') t.success++;
    else if (r.outcome === 'cancelled') t.cancelled++;
    else t.errors++;
    t.total_tokens += r.usage?.total_tokens ?? 0;
    byBucket.set(b, t);
  }
  return [...byBucket.entries()].sort(([a], [b]) => a - b).map(([, t]) => t);
}

const byName = (a: ModelStats, b: ModelStats) => (a.model_name < b.model_name ? -1 : a.model_name > b.model_name ? 1 : 0);

/** Random windows aligned to their bucket, as the route aligns them, over and around the data. */
function randomWindows(rand: () => number, n: number): UsageQuery[] {
  const out: UsageQuery[] = [];
  const from = BASE_MS - DAY;
  const to = BASE_MS + SPAN_MS + DAY;
  for (let i = 0; i < n; i++) {
    const bucket = (['minute', 'hour', 'hour', 'day'] as const)[i % 4]!;
    const size = GRANULARITY_MS[bucket];
    const maxLen = bucket === 'minute' ? 30 * HOUR : to - from;
    const a = from + Math.floor(rand() * (to - from));
    const b = Math.min(to, a + 1 + Math.floor(rand() * maxLen));
    const start = new Date(Math.floor(a / size) * size);
    const end = new Date(Math.ceil(b / size) * size);
    const model = rand() < 0.25 ? MODELS[Math.floor(rand() * MODELS.length)] : undefined;
    const clientKey = rand() < 0.2 ? (rand() < 0.5 ? 'team-a' : '') : undefined;
    out.push({ start, end, bucket, model, clientKey });
  }
  return out;
}

const w = (start: string, end: string, bucket: UsageQuery['bucket'], extra: Partial<UsageQuery> = {}): UsageQuery => ({
  start: new Date(start),
  end: new Date(end),
  bucket,
  ...extra,
});

/** Windows that take every path of usage-repo.ts: hour edges around whole days, day rows only, hour rows only, minutes. */
const FIXED_WINDOWS: UsageQuery[] = [
  w('2026-11-24T09:00:00Z', '2026-11-27T15:00:00Z', 'hour'),
  w('2026-11-24T09:00:00Z', '2026-11-27T15:00:00Z', 'hour', { clientKey: 'team-a' }),
  w('2026-11-24T09:00:00Z', '2026-11-27T15:00:00Z', 'hour', { clientKey: '' }),
  w('2026-11-25T00:00:00Z', '2026-11-27T05:00:00Z', 'hour', { model: 'beta' }),
  w('2026-11-25T10:00:00Z', '2026-11-26T11:00:00Z', 'hour'),
  w('2026-11-24T00:00:00Z', '2026-11-29T00:00:00Z', 'day'),
  w('2026-11-25T00:00:00Z', '2026-11-27T00:00:00Z', 'day', { model: 'gamma/x' }),
  // Not aligned to days (the route always aligns; the repo stays exact anyway).
  w('2026-11-24T06:00:00Z', '2026-11-27T18:00:00Z', 'day'),
  w('2026-11-25T23:00:00Z', '2026-11-26T01:30:00Z', 'minute'),
];

describe.each(['sqlite', 'postgres'] as const)('usage rollups written by the writer on %s', (dialect) => {
  let t: TestDb;
  beforeEach(async () => {
    t = await withDialect(dialect, pgUrl);
    await migrateToLatest(t.db, dialect);
  });
  afterEach(async () => {
    await t.close();
  });

  const writer = () =>
    createDbWriter({
      dialect,
      ...(dialect === 'sqlite' ? { sqliteFile: t.config.sqlite.path } : { db: t.db }),
      config: { batchMaxRows: 97, batchMaxMs: 10, queueMaxRows: 10_000 },
      spoolDir: join(mkdtempSync(join(tmpdir(), 'yallmp-rollup-')), 'spool'),
      log: testLogger(),
      afterInsertModule: ROLLUP_HOOK,
    });

  const rollupRows = async (granularity: Granularity) => {
    const rows = await t.db.selectFrom('usage_rollups').selectAll().where('granularity', '=', granularity).execute();
    return rows
      .map((r) => {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(r)) out[k] = k === 'bucket_start' ? new Date(v as string | Date).toISOString() : v === null ? null : typeof v === 'string' && k !== 'model_name' && k !== 'client_key' && k !== 'granularity' ? Number(v) : v;
        return out;
      })
      .sort((a, b) => `${a.bucket_start}|${a.model_name}|${a.client_key}`.localeCompare(`${b.bucket_start}|${b.model_name}|${b.client_key}`));
  };

  it('equal a raw aggregation of random records over several days, for fixed and random windows, and replays do not double-count', async () => {
    const rand = rng(dialect === 'sqlite' ? 7 : 11);
    const records = Array.from({ length: 1200 }, (_, i) => randomRecord(rand, i));
    const wr = writer();
    for (const r of records) wr.publish(r);
    // A replay of the first 200 (as from the spool after a lost commit) must change nothing.
    for (const r of records.slice(0, 200)) wr.publish(r);
    await wr.close();

    const windows = [...FIXED_WINDOWS, ...randomWindows(rng(dialect === 'sqlite' ? 3 : 5), 40)];
    let dayRowsUsed = 0;
    for (const q of windows) {
      const label = `${q.bucket} ${q.start.toISOString()} → ${q.end.toISOString()} model=${q.model} key=${q.clientKey}`;
      const wantStats = expectedStats(records, q);
      const wantTrend = expectedTrend(records, q);
      const stats = (await modelStats(t.db, dialect, q)).sort(byName);
      const trend = await trendRows(t.db, dialect, q);
      expect(stats, label).toEqual(wantStats);
      expect(trend, label).toEqual(wantTrend);
      if (totalSpans(q).some((s) => s.granularity === 'day')) dayRowsUsed++;
    }
    // The windows did exercise day rows (whole days inside a window) and not only hour/minute ones.
    expect(dayRowsUsed).toBeGreaterThanOrEqual(15);
  });

  it('keep each day row equal to the sum of its hour rows, and migration 0004 rebuilds the same day rows from the hour rows', async () => {
    const rand = rng(dialect === 'sqlite' ? 17 : 19);
    const records = Array.from({ length: 500 }, (_, i) => randomRecord(rand, i));
    const wr = writer();
    for (const r of records) wr.publish(r);
    await wr.close();

    const written = await rollupRows('day');
    // 5 UTC days × 3 models × 2 keys, all present with this many records.
    expect(written).toHaveLength(5 * 3 * 2);
    const fromHours = new Map<string, Record<string, unknown>>();
    for (const h of await rollupRows('hour')) {
      const day = `${String(h.bucket_start).slice(0, 10)}T00:00:00.000Z`;
      const key = `${day}|${h.model_name}|${h.client_key}`;
      const d = fromHours.get(key);
      if (!d) {
        fromHours.set(key, { ...h, granularity: 'day', bucket_start: day });
        continue;
      }
      for (const [k, v] of Object.entries(h)) {
        if (k === 'duration_min_ms') d[k] = d[k] === null ? v : v === null ? d[k] : Math.min(Number(d[k]), Number(v));
        else if (k === 'duration_max_ms') d[k] = d[k] === null ? v : v === null ? d[k] : Math.max(Number(d[k]), Number(v));
        else if (typeof v === 'number') d[k] = Number(d[k]) + v;
      }
    }
    expect(written).toEqual([...fromHours.values()].sort((a, b) => `${a.bucket_start}|${a.model_name}|${a.client_key}`.localeCompare(`${b.bucket_start}|${b.model_name}|${b.client_key}`)));

    // 0004 down removes the day rows; up builds them again from the hour rows, identically.
    expect(await migrateDown(t.db, dialect)).toEqual([{ migrationName: '0004_add_day_rollups', direction: 'Down', status: 'Success' }]);
    expect(await rollupRows('day')).toEqual([]);
    expect(await migrateToLatest(t.db, dialect)).toEqual([{ migrationName: '0004_add_day_rollups', direction: 'Up', status: 'Success' }]);
    expect(await rollupRows('day')).toEqual(written);
    // Hour and minute rows are untouched by either direction, and the writer adds to backfilled rows.
    const more = Array.from({ length: 50 }, (_, i) => randomRecord(rand, 1000 + i));
    const wr2 = writer();
    for (const r of more) wr2.publish(r);
    await wr2.close();
    const q = w('2026-11-24T00:00:00Z', '2026-11-29T00:00:00Z', 'day');
    expect((await modelStats(t.db, dialect, q)).sort(byName)).toEqual(expectedStats([...records, ...more], q));
  });
});
