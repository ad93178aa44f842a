import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { ROLLUP_HOOK } from '../src/db/logging.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { modelStats, trendRows, type UsageQuery } from '../src/db/usage-repo.ts';
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
const BASE_MS = Date.parse('2026-11-27T06:00:00.000Z');

function randomRecord(rand: () => number, i: number): RequestRecord {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const hasUsage = rand() < 0.7;
  const prompt = Math.floor(rand() * 500);
  const completion = Math.floor(rand() * 800);
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    requestTime: new Date(BASE_MS + Math.floor(rand() * 4 * 3_600_000)).toISOString(),
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

/** The same numbers computed straight from the records, the way a raw-table aggregation would. */
function expectedStats(records: readonly RequestRecord[], q: UsageQuery) {
  const inWindow = records.filter((r) => {
    const t = Date.parse(r.requestTime);
    return t >= q.start.getTime() && t < q.end.getTime() && (q.model === undefined || r.model === q.model);
  });
  const byModel = new Map<string, { requests: number; success: number; errors: number; cancelled: number; sum: number; n: number; min: number | null; max: number | null; tokens: number }>();
  for (const r of inWindow) {
    const m = byModel.get(r.model) ?? { requests: 0, success: 0, errors: 0, cancelled: 0, sum: 0, n: 0, min: null, max: null, tokens: 0 };
    m.requests++;
    if (r.outcome === 'success') m.success++;
    else if (r.outcome === 'cancelled') m.cancelled++;
    else m.errors++;
    if (r.durationMs !== null) {
      m.sum += r.durationMs;
      m.n++;
      m.min = m.min === null ? r.durationMs : Math.min(m.min, r.durationMs);
      m.max = m.max === null ? r.durationMs : Math.max(m.max, r.durationMs);
    }
    m.tokens += r.usage?.total_tokens ?? 0;
    byModel.set(r.model, m);
  }
  return [...byModel.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([model, m]) => ({ model, ...m }));
}

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

  it('equal a raw aggregation of random records, for several windows, and replays do not double-count', async () => {
    const rand = rng(dialect === 'sqlite' ? 7 : 11);
    const records = Array.from({ length: 600 }, (_, i) => randomRecord(rand, i));
    const w = writer();
    for (const r of records) w.publish(r);
    // A replay of the first 200 (as from the spool after a lost commit) must change nothing.
    for (const r of records.slice(0, 200)) w.publish(r);
    await w.close();

    const windows: UsageQuery[] = [
      { start: new Date(BASE_MS), end: new Date(BASE_MS + 4 * 3_600_000), bucket: 'hour' },
      { start: new Date(BASE_MS + 3_600_000), end: new Date(BASE_MS + 2 * 3_600_000), bucket: 'minute' },
      { start: new Date(BASE_MS), end: new Date(BASE_MS + 86_400_000), bucket: 'day', model: 'beta' },
    ];
    for (const q of windows) {
      const got = (await modelStats(t.db, dialect, q)).sort((a, b) => a.model_name.localeCompare(b.model_name));
      const want = expectedStats(records, q);
      expect(
        got.map((m) => ({
          model: m.model_name,
          requests: m.requests,
          success: m.success,
          errors: m.errors,
          cancelled: m.cancelled,
          sum: m.duration_sum_ms,
          n: m.duration_count,
          min: m.duration_min_ms,
          max: m.duration_max_ms,
          tokens: m.total_tokens,
        })),
      ).toEqual(want);
      const trend = await trendRows(t.db, dialect, q);
      expect(trend.reduce((s, r) => s + r.requests, 0)).toBe(want.reduce((s, m) => s + m.requests, 0));
    }

    const keyed = await modelStats(t.db, dialect, { ...windows[0]!, clientKey: 'team-a' });
    const keyedTotal = records.filter((r) => r.clientKey === 'team-a').length;
    expect(keyed.reduce((s, m) => s + m.requests, 0)).toBe(keyedTotal);
  });
});
