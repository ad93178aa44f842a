/**
 * `/api/usage` and `/api/logs` answered from a small scripted data set, written through the real
 * database writer (with the rollup hook) on SQLite and on a real PostgreSQL. Every expected value
 * below is a literal, computed by hand in the comments next to it; at the end the two dialects'
 * answers must be the same JSON (minus `generated_at` and the database-clock `created_at`).
 *
 * Conventions used in the hand computations:
 * - latency histogram buckets (rollups.ts): b0 ≤ 50, b1 ≤ 100, b2 ≤ 250, b3 ≤ 500, b4 ≤ 1000,
 *   b5 ≤ 2500, b6 ≤ 5000, b7 ≤ 10 000, b8 ≤ 30 000, b9 ≤ 60 000, b10 ≤ 120 000, b11 above (ms);
 * - percentile p (docs/usage.md): rank = p × n; the first bucket whose cumulative count reaches
 *   the rank holds it; value = lo + (hi − lo) × (rank − before) / count, where lo = max(lower
 *   bound, min), hi = min(upper bound, max); rounded to the nearest ms;
 * - success_rate / error_rate: 4 decimals; averages: 0.1 ms; halves rounded up.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../src/app.ts';
import type { ProxyConfig } from '../src/config/types.ts';
import type { Dialect } from '../src/db/dialect.ts';
import { ROLLUP_HOOK } from '../src/db/logging.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { createDbWriter } from '../src/db/writer.ts';
import { RealtimeCounters } from '../src/logging/counters.ts';
import { nullSink } from '../src/logging/fanout.ts';
import { createHeaderSanitizer } from '../src/logging/sanitize.ts';
import type { RecordedError, RequestRecord, Usage } from '../src/logging/types.ts';
import type { UsageSource } from '../src/routes/usage.ts';
import { avg, parseInstant, rate } from '../src/routes/usage.ts';
import { UpstreamPools } from '../src/upstream/pools.ts';
import { withDialect, type TestDb } from './helpers/db.ts';
import { configFrom, testLogger, type TestLogger } from './helpers/proxy.ts';

const pgUrl = inject('pgUrl');

/** The clock the usage route is given: `hours=` windows end here. */
const NOW = new Date('2026-11-27T12:30:00.000Z');
const ADMIN_TOKEN = 'usage-api-exact-admin';
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

const id = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

// ---------------------------------------------------------------------------------------------
// The scripted requests. R0…R12; times span 2026-11-26 21:59 → 2026-11-27 12:10 (UTC).
//
//  #   time (UTC)                model  outcome    status  dur ms   ttfb  tokens p/c/t   notes
//  R0  26 21:59:59.999           alpha  success    200        10      5   1/1/2
//  R1  26 22:10                  alpha  success    200       120     40   10/20/30
//  R2  26 22:40                  beta   error      502      3000      –   –              2 errors
//  R3  26 23:05                  alpha  success    200       480    100   100/50/150     stream
//  R4  26 23:59:59.999           gamma  cancelled  200      7000    300   –              stream, 1 error
//  R5  27 00:00:00.000           alpha  success    200        90     30   5/5/10
//  R6  27 09:15                  alpha  error      400        45     45   –              1 error ("250%")
//  R7  27 09:45                  beta   success    200      1500    700   200/300/500    key team-a
//  R8  27 10:20                  alpha  success    200       250     80   40/60/100
//  R9  27 10:20 (same as R8)     beta   cancelled    0     20000      –   –              stream, 1 error
//  R10 27 11:05                  alpha  success    200       700    200   20/30/50
//  R11 27 11:30                  gamma  error      504     60000      –   –              1 error
//  R12 27 12:10                  beta   success    200       800    150   300/400/700    /v1/responses usage
// ---------------------------------------------------------------------------------------------

interface Script {
  n: number;
  time: string;
  model: string;
  outcome: RequestRecord['outcome'];
  status: number;
  duration: number;
  ttfb: number | null;
  usage?: Usage | null;
  stream?: boolean;
  path?: string;
  backend?: string | null;
  finish?: string | null;
  key?: string | null;
  errors?: RecordedError[];
}

const err = (time: string, type: RecordedError['type'], message: string, backend: string | null, httpStatus: number | null, context: Record<string, unknown> | null = null): RecordedError => ({
  time,
  type,
  message,
  backend,
  httpStatus,
  context,
});

const SCRIPT: Script[] = [
  { n: 0, time: '2026-11-26T21:59:59.999Z', model: 'alpha', outcome: 'success', status: 200, duration: 10, ttfb: 5, usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }, backend: 'alpha-1', finish: 'stop' },
  { n: 1, time: '2026-11-26T22:10:00.000Z', model: 'alpha', outcome: 'success', status: 200, duration: 120, ttfb: 40, usage: { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 }, backend: 'alpha-1', finish: 'stop' },
  {
    n: 2,
    time: '2026-11-26T22:40:00.000Z',
    model: 'beta',
    outcome: 'error',
    status: 502,
    duration: 3000,
    ttfb: null,
    errors: [
      err('2026-11-26T22:40:01.000Z', 'connection_error', 'beta-1 request error: ECONNREFUSED', 'beta-1', null, { attempt: 1, url: 'http://beta-1.test/v1/chat/completions' }),
      err('2026-11-26T22:40:02.990Z', 'http_retryable', 'beta-2 returned retryable status 502', 'beta-2', 502, { attempt: 1, body: '{"error":"bad gateway"}' }),
    ],
  },
  { n: 3, time: '2026-11-26T23:05:00.000Z', model: 'alpha', outcome: 'success', status: 200, duration: 480, ttfb: 100, usage: { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150 }, stream: true, backend: 'alpha-1', finish: 'stop' },
  {
    n: 4,
    time: '2026-11-26T23:59:59.999Z',
    model: 'gamma',
    outcome: 'cancelled',
    status: 200,
    duration: 7000,
    ttfb: 300,
    stream: true,
    backend: 'gamma-1',
    errors: [err('2026-11-27T00:00:06.999Z', 'client_disconnect', 'client disconnected during the stream', 'gamma-1', null)],
  },
  { n: 5, time: '2026-11-27T00:00:00.000Z', model: 'alpha', outcome: 'success', status: 200, duration: 90, ttfb: 30, usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 }, backend: 'alpha-1', finish: 'length' },
  {
    n: 6,
    time: '2026-11-27T09:15:00.000Z',
    model: 'alpha',
    outcome: 'error',
    status: 400,
    duration: 45,
    ttfb: 45,
    backend: 'alpha-1',
    errors: [err('2026-11-27T09:15:00.045Z', 'http_error', 'alpha-1 returned 400: temperature must be at most 2 (got 250%)', 'alpha-1', 400)],
  },
  { n: 7, time: '2026-11-27T09:45:00.000Z', model: 'beta', outcome: 'success', status: 200, duration: 1500, ttfb: 700, usage: { prompt_tokens: 200, completion_tokens: 300, total_tokens: 500 }, backend: 'beta-1', finish: 'tool_calls', key: 'team-a' },
  { n: 8, time: '2026-11-27T10:20:00.000Z', model: 'alpha', outcome: 'success', status: 200, duration: 250, ttfb: 80, usage: { prompt_tokens: 40, completion_tokens: 60, total_tokens: 100 }, backend: 'alpha-1', finish: 'stop' },
  {
    n: 9,
    time: '2026-11-27T10:20:00.000Z',
    model: 'beta',
    outcome: 'cancelled',
    status: 0,
    duration: 20000,
    ttfb: null,
    stream: true,
    errors: [err('2026-11-27T10:20:20.000Z', 'client_disconnect', 'client disconnected before the response started', null, null)],
  },
  { n: 10, time: '2026-11-27T11:05:00.000Z', model: 'alpha', outcome: 'success', status: 200, duration: 700, ttfb: 200, usage: { prompt_tokens: 20, completion_tokens: 30, total_tokens: 50 }, backend: 'alpha-2', finish: 'stop' },
  {
    n: 11,
    time: '2026-11-27T11:30:00.000Z',
    model: 'gamma',
    outcome: 'error',
    status: 504,
    duration: 60000,
    ttfb: null,
    errors: [err('2026-11-27T11:31:00.000Z', 'timeout', 'gamma-1 request error: ReadTimeout; timeout=60s', 'gamma-1', null)],
  },
  // The Responses API's usage names: input/output tokens become prompt/completion.
  { n: 12, time: '2026-11-27T12:10:00.000Z', model: 'beta', outcome: 'success', status: 200, duration: 800, ttfb: 150, usage: { input_tokens: 300, output_tokens: 400, total_tokens: 700 }, path: '/v1/responses', backend: 'beta-1', finish: 'stop' },
];

function toRecord(s: Script): RequestRecord {
  const stream = s.stream ?? false;
  const path = s.path ?? '/v1/chat/completions';
  const r2 = s.n === 2;
  return {
    id: id(s.n),
    requestTime: s.time,
    model: s.model,
    isStream: stream,
    path,
    method: 'POST',
    query: '',
    clientKey: s.key ?? null,
    headers: r2 ? { 'content-type': 'application/json', authorization: 'Bearer sk-****' } : { 'content-type': 'application/json' },
    body: r2 ? { model: 'beta', messages: [{ role: 'user', content: 'hi' }] } : { model: s.model },
    bodyTruncated: false,
    route: r2 ? ['beta-1', 'beta-2'] : [`${s.model}-1`],
    attempts: r2
      ? [
          { backend: 'beta-1', attempt: 1, url: 'http://beta-1.test/v1/chat/completions', status: null, durationMs: 1000, ttfbMs: null, error: 'beta-1 request error: ECONNREFUSED', errorType: 'connection_error', responseHeaders: null, responseBody: null },
          { backend: 'beta-2', attempt: 1, url: 'http://beta-2.test/v1/chat/completions', status: 502, durationMs: 1990, ttfbMs: 1980, error: 'beta-2 returned retryable status 502', errorType: 'http_retryable', responseHeaders: { 'content-type': 'application/json' }, responseBody: '{"error":"bad gateway"}' },
        ]
      : [],
    streamChunks: stream ? ['data: {"choices":[]}\n\n'] : [],
    streamChunksDropped: 0,
    errors: s.errors ?? [],
    usage: s.usage ?? null,
    finishReason: s.finish ?? null,
    outcome: s.outcome,
    statusCode: s.status,
    backendName: s.backend ?? null,
    durationMs: s.duration,
    ttfbMs: s.ttfb,
    responseBody: null,
  };
}

// ---------------------------------------------------------------------------------------------
// Expected rows of GET /api/logs, written out by hand from the table above.
// ---------------------------------------------------------------------------------------------
const row = (
  n: number,
  request_time: string,
  model_name: string,
  is_stream: boolean,
  path: string,
  outcome: string,
  status_code: number,
  duration_ms: number,
  ttfb_ms: number | null,
  backend_name: string | null,
  finish_reason: string | null,
  tokens: [number, number, number] | null,
  client_key: string | null = null,
) => ({
  id: id(n),
  request_time,
  model_name,
  is_stream,
  path,
  outcome,
  status_code,
  duration_ms,
  ttfb_ms,
  backend_name,
  finish_reason,
  prompt_tokens: tokens?.[0] ?? null,
  completion_tokens: tokens?.[1] ?? null,
  total_tokens: tokens?.[2] ?? null,
  client_key,
});
const CHAT = '/v1/chat/completions';
const ROWS = {
  0: row(0, '2026-11-26T21:59:59.999Z', 'alpha', false, CHAT, 'success', 200, 10, 5, 'alpha-1', 'stop', [1, 1, 2]),
  1: row(1, '2026-11-26T22:10:00.000Z', 'alpha', false, CHAT, 'success', 200, 120, 40, 'alpha-1', 'stop', [10, 20, 30]),
  2: row(2, '2026-11-26T22:40:00.000Z', 'beta', false, CHAT, 'error', 502, 3000, null, null, null, null),
  3: row(3, '2026-11-26T23:05:00.000Z', 'alpha', true, CHAT, 'success', 200, 480, 100, 'alpha-1', 'stop', [100, 50, 150]),
  4: row(4, '2026-11-26T23:59:59.999Z', 'gamma', true, CHAT, 'cancelled', 200, 7000, 300, 'gamma-1', null, null),
  5: row(5, '2026-11-27T00:00:00.000Z', 'alpha', false, CHAT, 'success', 200, 90, 30, 'alpha-1', 'length', [5, 5, 10]),
  6: row(6, '2026-11-27T09:15:00.000Z', 'alpha', false, CHAT, 'error', 400, 45, 45, 'alpha-1', null, null),
  7: row(7, '2026-11-27T09:45:00.000Z', 'beta', false, CHAT, 'success', 200, 1500, 700, 'beta-1', 'tool_calls', [200, 300, 500], 'team-a'),
  8: row(8, '2026-11-27T10:20:00.000Z', 'alpha', false, CHAT, 'success', 200, 250, 80, 'alpha-1', 'stop', [40, 60, 100]),
  9: row(9, '2026-11-27T10:20:00.000Z', 'beta', true, CHAT, 'cancelled', 0, 20000, null, null, null, null),
  10: row(10, '2026-11-27T11:05:00.000Z', 'alpha', false, CHAT, 'success', 200, 700, 200, 'alpha-2', 'stop', [20, 30, 50]),
  11: row(11, '2026-11-27T11:30:00.000Z', 'gamma', false, CHAT, 'error', 504, 60000, null, null, null, null),
  12: row(12, '2026-11-27T12:10:00.000Z', 'beta', false, '/v1/responses', 'success', 200, 800, 150, 'beta-1', 'stop', [300, 400, 700]),
} as const;

/** base64url of `["<request_time>","<id>"]` of the last row of a page. */
const CURSOR_AFTER_R8 = 'WyIyMDI2LTExLTI3VDEwOjIwOjAwLjAwMFoiLCIwMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDgiXQ';
const CURSOR_AFTER_R9 = 'WyIyMDI2LTExLTI3VDEwOjIwOjAwLjAwMFoiLCIwMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDkiXQ';
const CURSOR_AFTER_R3 = 'WyIyMDI2LTExLTI2VDIzOjA1OjAwLjAwMFoiLCIwMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDMiXQ';
const CURSOR_AFTER_R5 = 'WyIyMDI2LTExLTI3VDAwOjAwOjAwLjAwMFoiLCIwMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDUiXQ';

// ---------------------------------------------------------------------------------------------
// Helpers for the expected /api/usage answers.
// ---------------------------------------------------------------------------------------------
/** The live counters of the app under test: 3 started, 1 success and 1 error finished. */
const REALTIME = { received: 3, served: 2, succeeded: 1, failed: 1, cancelled: 0, ongoing: 1, started_at: '2026-11-27T08:00:00.000Z' };
const trend = (bucket_start: string, count: number, success: number, errors: number, cancelled: number, tokens: number) => ({ bucket_start, count, success, errors, cancelled, tokens });
const empty = (bucket_start: string) => trend(bucket_start, 0, 0, 0, 0, 0);
const badParam = (param: string, message: string) => ({ error: { message, type: 'invalid_request_error', param, code: 'invalid_parameter' } });

function counters(): RealtimeCounters {
  const c = new RealtimeCounters(new Date('2026-11-27T08:00:00.000Z'));
  c.start();
  c.start();
  c.start();
  c.finish('success');
  c.finish('error');
  return c;
}

let baseConfig: ProxyConfig | null = null;
function config(enabled: boolean): ProxyConfig {
  baseConfig ??= configFrom({ model_list: [] });
  return { ...baseConfig, database: { ...baseConfig.database, enabled } };
}

interface TestApp {
  app: Hono;
  log: TestLogger;
  pools: UpstreamPools;
}

function makeApp(usage: () => UsageSource | null, enabled = true): TestApp {
  const cfg = config(enabled);
  const log = testLogger();
  const pools = new UpstreamPools({ connectTimeoutMs: 1000 });
  const app = createApp({
    getConfig: () => cfg,
    sink: nullSink,
    counters: counters(),
    pools,
    sanitize: createHeaderSanitizer(),
    log,
    startedAt: 0,
    adminToken: ADMIN_TOKEN,
    usage,
    now: () => NOW,
  });
  return { app, log, pools };
}

async function getJson(app: Hono, path: string): Promise<{ status: number; body: unknown }> {
  const res = await app.request(path, { headers: auth });
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: res.status, body: await res.json() };
}

/** What each dialect answered, by request path, for the comparison at the end. */
const answers: Record<Dialect, Map<string, { status: number; body: unknown }>> = { sqlite: new Map(), postgres: new Map() };

/** Fails on a string that looks like a number: PostgreSQL's int8/numeric arrive as strings unless converted. */
function numericStrings(value: unknown, at = '$'): string[] {
  if (typeof value === 'string') return /^-?\d+(\.\d+)?$/.test(value) ? [`${at} = ${JSON.stringify(value)}`] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => numericStrings(v, `${at}[${i}]`));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => numericStrings(v, `${at}.${k}`));
  return [];
}

/** Drops what legitimately differs: `generated_at` (the clock) and `created_at` (the database's clock). */
function comparable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(comparable);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'generated_at' && k !== 'created_at').map(([k, v]) => [k, comparable(v)]));
  }
  return value;
}

describe.each(['sqlite', 'postgres'] as const)('usage and logs API on %s, scripted data', (dialect) => {
  let t: TestDb;
  let api: TestApp;
  const got = answers[dialect];
  const call = async (path: string) => {
    const res = await getJson(api.app, path);
    got.set(path, res);
    return res;
  };

  beforeAll(async () => {
    t = await withDialect(dialect, pgUrl);
    await migrateToLatest(t.db, dialect);
    // The proxy's writer path: RequestRecords → writer (batches, encoding) → rows + rollups in
    // one transaction. Small batches, published out of order, so rollup buckets are merged by
    // the upsert across batches rather than computed in one go.
    const writer = createDbWriter({
      dialect,
      ...(dialect === 'sqlite' ? { sqliteFile: t.config.sqlite.path } : { db: t.db }),
      config: { batchMaxRows: 4, batchMaxMs: 5, queueMaxRows: 1000 },
      spoolDir: join(mkdtempSync(join(tmpdir(), 'yallmp-usage-exact-')), 'spool'),
      log: testLogger(),
      afterInsertModule: ROLLUP_HOOK,
    });
    const order = [7, 2, 12, 0, 9, 4, 11, 1, 5, 10, 3, 8, 6];
    for (const n of order) writer.publish(toRecord(SCRIPT[n]!));
    await writer.close();
    expect(writer.stats).toMatchObject({ written: 13, spooled: 0, dropped: 0, writeErrors: 0 });
    api = makeApp(() => ({ db: t.db, dialect }));
  });

  afterAll(async () => {
    await api?.pools.close();
    await t?.close();
  });

  it('hour buckets over an explicit window (R1…R11; R0 is 1 ms before it, R12 after it)', async () => {
    const res = await call('/api/usage?start=2026-11-26T22:00:00Z&end=2026-11-27T12:00:00Z&bucket=hour');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      generated_at: '2026-11-27T12:30:00.000Z',
      realtime: REALTIME,
      historical: {
        enabled: true,
        status: 'available',
        provider: 'database',
        // 22:00 → 12:00 next day = 14 h, already on hour boundaries.
        window: { start: '2026-11-26T22:00:00.000Z', end: '2026-11-27T12:00:00.000Z', hours: 14, bucket: 'hour', model: null },
        total_stats: {
          total_requests: 11, // alpha 6 (R1 R3 R5 R6 R8 R10) + beta 3 (R2 R7 R9) + gamma 2 (R4 R11)
          successful_requests: 6, // R1 R3 R5 R8 R10 + R7
          failed_requests: 3, // R6, R2, R11
          cancelled_requests: 2, // R9, R4
          success_rate: 0.5455, // 6 / 11 = 0.54545…
          // (1685 + 24500 + 67000) / 11 = 93185 / 11 = 8471.36…
          avg_duration_ms: 8471.4,
          prompt_tokens: 375, // alpha 10+100+5+40+20 = 175, beta 200
          completion_tokens: 465, // alpha 20+50+5+60+30 = 165, beta 300
          total_tokens: 840, // alpha 30+150+10+100+50 = 340, beta 500
        },
        requests_by_model: [
          { model_name: 'alpha', count: 6 },
          { model_name: 'beta', count: 3 },
          { model_name: 'gamma', count: 2 },
        ],
        error_rates: [
          { model_name: 'alpha', total_requests: 6, error_count: 1, error_rate: 0.1667 }, // 1/6
          { model_name: 'beta', total_requests: 3, error_count: 1, error_rate: 0.3333 }, // 1/3; the cancelled R9 is no error
          { model_name: 'gamma', total_requests: 2, error_count: 1, error_rate: 0.5 }, // 1/2
        ],
        avg_response_times: [
          {
            model_name: 'alpha',
            // 120 + 480 + 90 + 45 + 250 + 700 = 1685; / 6 = 280.83
            avg_duration_ms: 280.8,
            min_duration_ms: 45,
            max_duration_ms: 700,
            // histogram: 45→b0, 90→b1, 120→b2, 250→b2, 480→b3, 700→b4 = [1,1,2,1,1]
            // p50: rank 3 → b2 (cum 1,2,4): lo max(100,45)=100, hi min(250,700)=250, (3−2)/2 → 175
            p50_duration_ms: 175,
            // p95: rank 5.7 → b4 (cum 5,6): lo 500, hi min(1000,700)=700, 0.7 → 640
            p95_duration_ms: 640,
            avg_ttfb_ms: 82.5, // (40+100+30+45+80+200) / 6 = 495 / 6
          },
          {
            model_name: 'beta',
            avg_duration_ms: 8166.7, // (3000 + 1500 + 20000) / 3 = 8166.67
            min_duration_ms: 1500,
            max_duration_ms: 20000,
            // 1500→b5, 3000→b6, 20000→b8
            // p50: rank 1.5 → b6: lo 2500, hi 5000, (1.5−1)/1 → 3750
            p50_duration_ms: 3750,
            // p95: rank 2.85 → b8: lo 10000, hi min(30000,20000)=20000, 0.85 → 18500
            p95_duration_ms: 18500,
            avg_ttfb_ms: 700, // only R7 has a first byte
          },
          {
            model_name: 'gamma',
            avg_duration_ms: 33500, // (7000 + 60000) / 2
            min_duration_ms: 7000,
            max_duration_ms: 60000,
            // 7000→b7, 60000→b9 (bounds are inclusive)
            // p50: rank 1 → b7: lo max(5000,7000)=7000, hi 10000, 1/1 → 10000 (an estimate: within b7)
            p50_duration_ms: 10000,
            // p95: rank 1.9 → b9: lo 30000, hi 60000, 0.9 → 57000
            p95_duration_ms: 57000,
            avg_ttfb_ms: 300, // only R4
          },
        ],
        tokens_by_model: [
          { model_name: 'alpha', prompt_tokens: 175, completion_tokens: 165, total_tokens: 340 },
          { model_name: 'beta', prompt_tokens: 200, completion_tokens: 300, total_tokens: 500 },
          { model_name: 'gamma', prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
        ],
        usage_trends: [
          trend('2026-11-26T22:00:00.000Z', 2, 1, 1, 0, 30), // R1 (30 tokens), R2
          trend('2026-11-26T23:00:00.000Z', 2, 1, 0, 1, 150), // R3 (150), R4 at 23:59:59.999
          trend('2026-11-27T00:00:00.000Z', 1, 1, 0, 0, 10), // R5 at 00:00:00.000
          empty('2026-11-27T01:00:00.000Z'),
          empty('2026-11-27T02:00:00.000Z'),
          empty('2026-11-27T03:00:00.000Z'),
          empty('2026-11-27T04:00:00.000Z'),
          empty('2026-11-27T05:00:00.000Z'),
          empty('2026-11-27T06:00:00.000Z'),
          empty('2026-11-27T07:00:00.000Z'),
          empty('2026-11-27T08:00:00.000Z'),
          trend('2026-11-27T09:00:00.000Z', 2, 1, 1, 0, 500), // R6, R7 (500)
          trend('2026-11-27T10:00:00.000Z', 2, 1, 0, 1, 100), // R8 (100), R9
          trend('2026-11-27T11:00:00.000Z', 2, 1, 1, 0, 50), // R10 (50), R11
        ],
      },
    });
  });

  it('day buckets (all of R0…R12), summed from the hour rollups', async () => {
    const res = await call('/api/usage?start=2026-11-26T00:00:00Z&end=2026-11-28T00:00:00Z&bucket=day');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      generated_at: '2026-11-27T12:30:00.000Z',
      realtime: REALTIME,
      historical: {
        enabled: true,
        status: 'available',
        provider: 'database',
        window: { start: '2026-11-26T00:00:00.000Z', end: '2026-11-28T00:00:00.000Z', hours: 48, bucket: 'day', model: null },
        total_stats: {
          total_requests: 13, // alpha 7, beta 4, gamma 2
          successful_requests: 8, // R0 R1 R3 R5 R8 R10 + R7 R12
          failed_requests: 3, // R2 R6 R11
          cancelled_requests: 2, // R4 R9
          success_rate: 0.6154, // 8 / 13 = 0.61538…
          avg_duration_ms: 7230.4, // (1695 + 25300 + 67000) / 13 = 93995 / 13 = 7230.38
          prompt_tokens: 676, // alpha 176 + beta 200 + 300
          completion_tokens: 866, // alpha 166 + beta 300 + 400
          total_tokens: 1542, // alpha 342 + beta 500 + 700
        },
        requests_by_model: [
          { model_name: 'alpha', count: 7 },
          { model_name: 'beta', count: 4 },
          { model_name: 'gamma', count: 2 },
        ],
        error_rates: [
          { model_name: 'alpha', total_requests: 7, error_count: 1, error_rate: 0.1429 }, // 1/7 = 0.142857
          { model_name: 'beta', total_requests: 4, error_count: 1, error_rate: 0.25 },
          { model_name: 'gamma', total_requests: 2, error_count: 1, error_rate: 0.5 },
        ],
        avg_response_times: [
          {
            model_name: 'alpha',
            avg_duration_ms: 242.1, // 1695 / 7 = 242.14
            min_duration_ms: 10,
            max_duration_ms: 700,
            // histogram [2,1,2,1,1] (10 and 45 in b0)
            // p50: rank 3.5 → b2 (cum 2,3,5): lo 100, hi 250, (3.5−3)/2 = 0.25 → 137.5 → 138
            p50_duration_ms: 138,
            // p95: rank 6.65 → b4 (cum 6,7): lo 500, hi 700, 0.65 → 630
            p95_duration_ms: 630,
            avg_ttfb_ms: 71.4, // (5 + 495) / 7 = 71.43
          },
          {
            model_name: 'beta',
            avg_duration_ms: 6325, // (3000 + 1500 + 20000 + 800) / 4 = 25300 / 4
            min_duration_ms: 800,
            max_duration_ms: 20000,
            // 800→b4, 1500→b5, 3000→b6, 20000→b8
            // p50: rank 2 → b5 (cum 1,2): lo max(1000,800)=1000, hi 2500, 1/1 → 2500
            p50_duration_ms: 2500,
            // p95: rank 3.8 → b8 (cum 3,4): lo 10000, hi 20000, 0.8 → 18000
            p95_duration_ms: 18000,
            avg_ttfb_ms: 425, // (700 + 150) / 2
          },
          {
            model_name: 'gamma',
            avg_duration_ms: 33500,
            min_duration_ms: 7000,
            max_duration_ms: 60000,
            p50_duration_ms: 10000, // as in the hour window: same two requests
            p95_duration_ms: 57000,
            avg_ttfb_ms: 300,
          },
        ],
        tokens_by_model: [
          { model_name: 'alpha', prompt_tokens: 176, completion_tokens: 166, total_tokens: 342 },
          { model_name: 'beta', prompt_tokens: 500, completion_tokens: 700, total_tokens: 1200 },
          { model_name: 'gamma', prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
        ],
        usage_trends: [
          // R0 R1 R2 R3 R4: success R0 R1 R3, error R2, cancelled R4; tokens 2 + 30 + 150
          trend('2026-11-26T00:00:00.000Z', 5, 3, 1, 1, 182),
          // R5…R12: success R5 R7 R8 R10 R12, errors R6 R11, cancelled R9; tokens 10+500+100+50+700
          trend('2026-11-27T00:00:00.000Z', 8, 5, 2, 1, 1360),
        ],
      },
    });
  });

  it('model filter: alpha only, same window as the hour test', async () => {
    const res = await call('/api/usage?start=2026-11-26T22:00:00Z&end=2026-11-27T12:00:00Z&bucket=hour&model=alpha');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      generated_at: '2026-11-27T12:30:00.000Z',
      realtime: REALTIME,
      historical: {
        enabled: true,
        status: 'available',
        provider: 'database',
        window: { start: '2026-11-26T22:00:00.000Z', end: '2026-11-27T12:00:00.000Z', hours: 14, bucket: 'hour', model: 'alpha' },
        total_stats: {
          total_requests: 6,
          successful_requests: 5,
          failed_requests: 1,
          cancelled_requests: 0,
          success_rate: 0.8333, // 5/6
          avg_duration_ms: 280.8,
          prompt_tokens: 175,
          completion_tokens: 165,
          total_tokens: 340,
        },
        requests_by_model: [{ model_name: 'alpha', count: 6 }],
        error_rates: [{ model_name: 'alpha', total_requests: 6, error_count: 1, error_rate: 0.1667 }],
        avg_response_times: [
          { model_name: 'alpha', avg_duration_ms: 280.8, min_duration_ms: 45, max_duration_ms: 700, p50_duration_ms: 175, p95_duration_ms: 640, avg_ttfb_ms: 82.5 },
        ],
        tokens_by_model: [{ model_name: 'alpha', prompt_tokens: 175, completion_tokens: 165, total_tokens: 340 }],
        usage_trends: [
          trend('2026-11-26T22:00:00.000Z', 1, 1, 0, 0, 30), // R1
          trend('2026-11-26T23:00:00.000Z', 1, 1, 0, 0, 150), // R3
          trend('2026-11-27T00:00:00.000Z', 1, 1, 0, 0, 10), // R5
          empty('2026-11-27T01:00:00.000Z'),
          empty('2026-11-27T02:00:00.000Z'),
          empty('2026-11-27T03:00:00.000Z'),
          empty('2026-11-27T04:00:00.000Z'),
          empty('2026-11-27T05:00:00.000Z'),
          empty('2026-11-27T06:00:00.000Z'),
          empty('2026-11-27T07:00:00.000Z'),
          empty('2026-11-27T08:00:00.000Z'),
          trend('2026-11-27T09:00:00.000Z', 1, 0, 1, 0, 0), // R6
          trend('2026-11-27T10:00:00.000Z', 1, 1, 0, 0, 100), // R8
          trend('2026-11-27T11:00:00.000Z', 1, 1, 0, 0, 50), // R10
        ],
      },
    });
  });

  it('hours=6 ending at the pinned clock (12:30): widened to 06:00 → 13:00, bucket chosen as hour', async () => {
    const res = await call('/api/usage?hours=6');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      generated_at: '2026-11-27T12:30:00.000Z',
      realtime: REALTIME,
      historical: {
        enabled: true,
        status: 'available',
        provider: 'database',
        // 12:30 − 6 h = 06:30 → down to 06:00; 12:30 → up to 13:00: 7 h
        window: { start: '2026-11-27T06:00:00.000Z', end: '2026-11-27T13:00:00.000Z', hours: 7, bucket: 'hour', model: null },
        total_stats: {
          total_requests: 7, // R6 … R12
          successful_requests: 4, // R7 R8 R10 R12
          failed_requests: 2, // R6 R11
          cancelled_requests: 1, // R9
          success_rate: 0.5714, // 4/7 = 0.571428
          avg_duration_ms: 11899.3, // (45+1500+250+20000+700+60000+800) = 83295 / 7 = 11899.29
          prompt_tokens: 560, // 200 + 40 + 20 + 300
          completion_tokens: 790, // 300 + 60 + 30 + 400
          total_tokens: 1350, // 500 + 100 + 50 + 700
        },
        // alpha and beta both have 3: ties go by name
        requests_by_model: [
          { model_name: 'alpha', count: 3 },
          { model_name: 'beta', count: 3 },
          { model_name: 'gamma', count: 1 },
        ],
        error_rates: [
          { model_name: 'alpha', total_requests: 3, error_count: 1, error_rate: 0.3333 },
          { model_name: 'beta', total_requests: 3, error_count: 0, error_rate: 0 },
          { model_name: 'gamma', total_requests: 1, error_count: 1, error_rate: 1 },
        ],
        avg_response_times: [
          {
            model_name: 'alpha',
            avg_duration_ms: 331.7, // (45 + 250 + 700) / 3 = 331.67
            min_duration_ms: 45,
            max_duration_ms: 700,
            // 45→b0, 250→b2, 700→b4; p50 rank 1.5 → b2: lo 100, hi 250, 0.5 → 175
            p50_duration_ms: 175,
            // p95 rank 2.85 → b4: lo 500, hi 700, 0.85 → 670
            p95_duration_ms: 670,
            avg_ttfb_ms: 108.3, // (45 + 80 + 200) / 3 = 108.33
          },
          {
            model_name: 'beta',
            avg_duration_ms: 7433.3, // (1500 + 20000 + 800) / 3 = 7433.33
            min_duration_ms: 800,
            max_duration_ms: 20000,
            // 800→b4, 1500→b5, 20000→b8; p50 rank 1.5 → b5: lo 1000, hi 2500, 0.5 → 1750
            p50_duration_ms: 1750,
            // p95 rank 2.85 → b8: lo 10000, hi 20000, 0.85 → 18500
            p95_duration_ms: 18500,
            avg_ttfb_ms: 425, // (700 + 150) / 2
          },
          {
            model_name: 'gamma',
            avg_duration_ms: 60000,
            min_duration_ms: 60000,
            max_duration_ms: 60000,
            // one value: lo = hi = 60000
            p50_duration_ms: 60000,
            p95_duration_ms: 60000,
            avg_ttfb_ms: null, // R11 never sent a byte
          },
        ],
        tokens_by_model: [
          { model_name: 'alpha', prompt_tokens: 60, completion_tokens: 90, total_tokens: 150 },
          { model_name: 'beta', prompt_tokens: 500, completion_tokens: 700, total_tokens: 1200 },
          { model_name: 'gamma', prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
        ],
        usage_trends: [
          empty('2026-11-27T06:00:00.000Z'),
          empty('2026-11-27T07:00:00.000Z'),
          empty('2026-11-27T08:00:00.000Z'),
          trend('2026-11-27T09:00:00.000Z', 2, 1, 1, 0, 500),
          trend('2026-11-27T10:00:00.000Z', 2, 1, 0, 1, 100),
          trend('2026-11-27T11:00:00.000Z', 2, 1, 1, 0, 50),
          trend('2026-11-27T12:00:00.000Z', 1, 1, 0, 0, 700), // R12
        ],
      },
    });
  });

  it('minute buckets read the minute rollups; offsets and zone-less times are equivalent spellings', async () => {
    const expected = {
      generated_at: '2026-11-27T12:30:00.000Z',
      realtime: REALTIME,
      historical: {
        enabled: true,
        status: 'available',
        provider: 'database',
        // 4 minutes = 0.0667 h → 3 decimals
        window: { start: '2026-11-27T10:18:00.000Z', end: '2026-11-27T10:22:00.000Z', hours: 0.067, bucket: 'minute', model: null },
        total_stats: {
          total_requests: 2, // R8, R9
          successful_requests: 1,
          failed_requests: 0,
          cancelled_requests: 1,
          success_rate: 0.5,
          avg_duration_ms: 10125, // (250 + 20000) / 2
          prompt_tokens: 40,
          completion_tokens: 60,
          total_tokens: 100,
        },
        requests_by_model: [
          { model_name: 'alpha', count: 1 },
          { model_name: 'beta', count: 1 },
        ],
        error_rates: [
          { model_name: 'alpha', total_requests: 1, error_count: 0, error_rate: 0 },
          { model_name: 'beta', total_requests: 1, error_count: 0, error_rate: 0 },
        ],
        avg_response_times: [
          // single values: p50 = p95 = the value
          { model_name: 'alpha', avg_duration_ms: 250, min_duration_ms: 250, max_duration_ms: 250, p50_duration_ms: 250, p95_duration_ms: 250, avg_ttfb_ms: 80 },
          { model_name: 'beta', avg_duration_ms: 20000, min_duration_ms: 20000, max_duration_ms: 20000, p50_duration_ms: 20000, p95_duration_ms: 20000, avg_ttfb_ms: null },
        ],
        tokens_by_model: [
          { model_name: 'alpha', prompt_tokens: 40, completion_tokens: 60, total_tokens: 100 },
          { model_name: 'beta', prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
        ],
        usage_trends: [
          empty('2026-11-27T10:18:00.000Z'),
          empty('2026-11-27T10:19:00.000Z'),
          trend('2026-11-27T10:20:00.000Z', 2, 1, 0, 1, 100),
          empty('2026-11-27T10:21:00.000Z'),
        ],
      },
    };
    const res = await call('/api/usage?start=2026-11-27T10:18:00Z&end=2026-11-27T10:22:00Z&bucket=minute');
    expect(res).toEqual({ status: 200, body: expected });
    // +01:00 written unencoded (its '+' arrives as a space), -00:30, and no zone at all (UTC).
    expect(await call('/api/usage?start=2026-11-27T11:18:00+01:00&end=2026-11-27T09:52:00-00:30&bucket=minute')).toEqual({ status: 200, body: expected });
    expect(await call('/api/usage?start=2026-11-27T10:18&end=2026-11-27T10:22&bucket=minute')).toEqual({ status: 200, body: expected });
  });

  it('client key filter: team-a made only R7', async () => {
    const res = await call('/api/usage?start=2026-11-26T00:00:00Z&end=2026-11-28T00:00:00Z&bucket=day&key=team-a');
    expect(res).toEqual({
      status: 200,
      body: {
        generated_at: '2026-11-27T12:30:00.000Z',
        realtime: REALTIME,
        historical: {
          enabled: true,
          status: 'available',
          provider: 'database',
          window: { start: '2026-11-26T00:00:00.000Z', end: '2026-11-28T00:00:00.000Z', hours: 48, bucket: 'day', model: null },
          total_stats: {
            total_requests: 1,
            successful_requests: 1,
            failed_requests: 0,
            cancelled_requests: 0,
            success_rate: 1,
            avg_duration_ms: 1500,
            prompt_tokens: 200,
            completion_tokens: 300,
            total_tokens: 500,
          },
          requests_by_model: [{ model_name: 'beta', count: 1 }],
          error_rates: [{ model_name: 'beta', total_requests: 1, error_count: 0, error_rate: 0 }],
          // 1500 → b5, clamped to [1500, 1500]
          avg_response_times: [{ model_name: 'beta', avg_duration_ms: 1500, min_duration_ms: 1500, max_duration_ms: 1500, p50_duration_ms: 1500, p95_duration_ms: 1500, avg_ttfb_ms: 700 }],
          tokens_by_model: [{ model_name: 'beta', prompt_tokens: 200, completion_tokens: 300, total_tokens: 500 }],
          usage_trends: [empty('2026-11-26T00:00:00.000Z'), trend('2026-11-27T00:00:00.000Z', 1, 1, 0, 0, 500)],
        },
      },
    });
  });

  it('a window without rows: zeros, nulls where nothing can be averaged, every bucket present', async () => {
    const res = await call('/api/usage?start=2026-11-20T00:00:00Z&end=2026-11-20T03:00:00Z&bucket=hour');
    expect(res).toEqual({
      status: 200,
      body: {
        generated_at: '2026-11-27T12:30:00.000Z',
        realtime: REALTIME,
        historical: {
          enabled: true,
          status: 'available',
          provider: 'database',
          window: { start: '2026-11-20T00:00:00.000Z', end: '2026-11-20T03:00:00.000Z', hours: 3, bucket: 'hour', model: null },
          total_stats: {
            total_requests: 0,
            successful_requests: 0,
            failed_requests: 0,
            cancelled_requests: 0,
            success_rate: null,
            avg_duration_ms: null,
            prompt_tokens: 0,
            completion_tokens: 0,
            total_tokens: 0,
          },
          requests_by_model: [],
          error_rates: [],
          avg_response_times: [],
          tokens_by_model: [],
          usage_trends: [empty('2026-11-20T00:00:00.000Z'), empty('2026-11-20T01:00:00.000Z'), empty('2026-11-20T02:00:00.000Z')],
        },
      },
    });
  });

  it.each([
    ['hours=abc', badParam('hours', "'hours' must be a positive number of hours (at most 5 years)")],
    ['hours=0', badParam('hours', "'hours' must be a positive number of hours (at most 5 years)")],
    ['hours=', badParam('hours', "'hours' must be a positive number of hours (at most 5 years)")],
    ['start=yesterday', badParam('start', "'start' must be an ISO-8601 timestamp")],
    // new Date('1') is 2001-01-01 in V8: not ISO-8601, refused.
    ['start=1', badParam('start', "'start' must be an ISO-8601 timestamp")],
    ['start=2026-11-27T24:00:00Z', badParam('start', "'start' must be an ISO-8601 timestamp")],
    ['end=2026-02-30', badParam('end', "'end' must be an ISO-8601 timestamp")],
    ['start=2026-11-27T00:00:00Z&hours=3', badParam('hours', "give either 'hours' or 'start'/'end', not both")],
    ['start=2026-11-28T00:00:00Z&end=2026-11-27T00:00:00Z', badParam('start', "'start' must be before 'end'")],
    ['bucket=week', badParam('bucket', "'bucket' must be one of minute, hour, day")],
    // 720 h = 43 200 minute buckets (+1 for the widening) > 2000
    ['hours=720&bucket=minute', badParam('bucket', 'that window has more than 2000 minute buckets; use a larger bucket')],
  ])('400 for %s', async (qs, body) => {
    expect(await call(`/api/usage?${qs}`)).toEqual({ status: 400, body });
  });

  it('logs: first page with a total, then the cursor to the end', async () => {
    // Newest first by (request_time, id): R8 and R9 share 10:20, so R9 (greater id) comes first.
    expect(await call('/api/logs?limit=5&total=1')).toEqual({
      status: 200,
      body: { object: 'list', data: [ROWS[12], ROWS[11], ROWS[10], ROWS[9], ROWS[8]], next_cursor: CURSOR_AFTER_R8, has_more: true, total: 13, total_at_least: null },
    });
    expect(await call(`/api/logs?limit=5&cursor=${CURSOR_AFTER_R8}`)).toEqual({
      status: 200,
      body: { object: 'list', data: [ROWS[7], ROWS[6], ROWS[5], ROWS[4], ROWS[3]], next_cursor: CURSOR_AFTER_R3, has_more: true, total: null, total_at_least: null },
    });
    expect(await call(`/api/logs?limit=5&cursor=${CURSOR_AFTER_R3}`)).toEqual({
      status: 200,
      body: { object: 'list', data: [ROWS[2], ROWS[1], ROWS[0]], next_cursor: null, has_more: false, total: null, total_at_least: null },
    });
    // A page boundary between R9 and R8 (same request_time): the tie is broken by id.
    expect(await call('/api/logs?limit=4')).toEqual({
      status: 200,
      body: { object: 'list', data: [ROWS[12], ROWS[11], ROWS[10], ROWS[9]], next_cursor: CURSOR_AFTER_R9, has_more: true, total: null, total_at_least: null },
    });
    expect(await call(`/api/logs?limit=1&cursor=${CURSOR_AFTER_R9}`)).toEqual({
      status: 200,
      body: { object: 'list', data: [ROWS[8]], next_cursor: CURSOR_AFTER_R8, has_more: true, total: null, total_at_least: null },
    });
  });

  it('logs: filters, alone and combined, with the cursor', async () => {
    const list = (data: unknown[], total: number | null = null, next_cursor: string | null = null) => ({
      status: 200,
      body: { object: 'list', data, next_cursor, has_more: next_cursor !== null, total, total_at_least: null },
    });
    expect(await call('/api/logs?model=beta&total=1')).toEqual(list([ROWS[12], ROWS[9], ROWS[7], ROWS[2]], 4));
    expect(await call('/api/logs?outcome=cancelled')).toEqual(list([ROWS[9], ROWS[4]]));
    expect(await call('/api/logs?status=502')).toEqual(list([ROWS[2]]));
    expect(await call('/api/logs?status=0')).toEqual(list([ROWS[9]]));
    // Text search in error messages: case-insensitive; % and _ are literal characters.
    expect(await call('/api/logs?search=econnrefused')).toEqual(list([ROWS[2]]));
    expect(await call('/api/logs?search=Client%20DISCONNECTED&total=1')).toEqual(list([ROWS[9], ROWS[4]], 2));
    expect(await call('/api/logs?q=250%25')).toEqual(list([ROWS[6]]));
    expect(await call('/api/logs?search=%25')).toEqual(list([ROWS[6]]));
    expect(await call('/api/logs?search=_')).toEqual(list([]));
    // start inclusive (R5 at 00:00:00.000), end exclusive (R10 at 11:05:00.000).
    expect(await call('/api/logs?model=alpha&outcome=success&start=2026-11-27T00:00:00Z&end=2026-11-27T11:05:00Z&total=1')).toEqual(list([ROWS[8], ROWS[5]], 2));
    // Pages of a filtered list: alpha has R10 R8 R6 R5 R3 R1 R0.
    expect(await call('/api/logs?model=alpha&limit=2&total=1')).toEqual(list([ROWS[10], ROWS[8]], 7, CURSOR_AFTER_R8));
    expect(await call(`/api/logs?model=alpha&limit=2&cursor=${CURSOR_AFTER_R8}`)).toEqual(list([ROWS[6], ROWS[5]], null, CURSOR_AFTER_R5));
    expect(await call(`/api/logs?model=alpha&limit=3&cursor=${CURSOR_AFTER_R5}`)).toEqual(list([ROWS[3], ROWS[1], ROWS[0]]));
  });

  it.each([
    ['limit=0', badParam('limit', "'limit' must be an integer between 1 and 200")],
    ['limit=201', badParam('limit', "'limit' must be an integer between 1 and 200")],
    ['limit=2.5', badParam('limit', "'limit' must be an integer between 1 and 200")],
    ['outcome=failed', badParam('outcome', "'outcome' must be one of success, error, cancelled")],
    ['status=abc', badParam('status', "'status' must be an HTTP status code")],
    ['start=1', badParam('start', "'start' must be an ISO-8601 timestamp")],
    ['end=tomorrow', badParam('end', "'end' must be an ISO-8601 timestamp")],
    ['cursor=nope', badParam('cursor', "'cursor' is not a cursor returned by this endpoint")],
  ])('logs: 400 for %s', async (qs, body) => {
    expect(await call(`/api/logs?${qs}`)).toEqual({ status: 400, body });
  });

  const R2_ERROR_LOGS = [
    {
      // errorLogId(id(2), 0): SHA-1 of "<request id>:0", UUID-shaped
      id: '6ce0e12b-ae66-5bff-9b96-a8958f16be21',
      timestamp: '2026-11-26T22:40:01.000Z',
      model_name: 'beta',
      error_type: 'connection_error',
      error_message: 'beta-1 request error: ECONNREFUSED',
      backend_name: 'beta-1',
      http_status: null,
      request_path: '/v1/chat/completions',
      request_log_id: id(2),
      extra_context: { attempt: 1, url: 'http://beta-1.test/v1/chat/completions' },
      created_at: expect.any(String),
    },
    {
      id: '2ba8f934-5aed-5e5a-85f0-0ca84fa4fc51', // errorLogId(id(2), 1)
      timestamp: '2026-11-26T22:40:02.990Z',
      model_name: 'beta',
      error_type: 'http_retryable',
      error_message: 'beta-2 returned retryable status 502',
      backend_name: 'beta-2',
      http_status: 502,
      request_path: '/v1/chat/completions',
      request_log_id: id(2),
      extra_context: { attempt: 1, body: '{"error":"bad gateway"}' },
      created_at: expect.any(String),
    },
  ];
  const R2_ATTEMPTS = [
    { backend: 'beta-1', attempt: 1, url: 'http://beta-1.test/v1/chat/completions', status: null, duration_ms: 1000, ttfb_ms: null, error: 'beta-1 request error: ECONNREFUSED', error_type: 'connection_error', response_headers: null, response_body: null },
    { backend: 'beta-2', attempt: 1, url: 'http://beta-2.test/v1/chat/completions', status: 502, duration_ms: 1990, ttfb_ms: 1980, error: 'beta-2 returned retryable status 502', error_type: 'http_retryable', response_headers: { 'content-type': 'application/json' }, response_body: '{"error":"bad gateway"}' },
  ];
  const R2_ERRORS = [
    { time: '2026-11-26T22:40:01.000Z', type: 'connection_error', message: 'beta-1 request error: ECONNREFUSED', backend: 'beta-1', http_status: null, context: { attempt: 1, url: 'http://beta-1.test/v1/chat/completions' } },
    { time: '2026-11-26T22:40:02.990Z', type: 'http_retryable', message: 'beta-2 returned retryable status 502', backend: 'beta-2', http_status: 502, context: { attempt: 1, body: '{"error":"bad gateway"}' } },
  ];
  const R2_ROW = {
    ...ROWS[2],
    method: 'POST',
    query: '',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-****' },
    body: { model: 'beta', messages: [{ role: 'user', content: 'hi' }] },
    route: ['beta-1', 'beta-2'],
    backend_attempts: R2_ATTEMPTS,
    stream_chunks: null, // not a stream, no chunks
    errors: R2_ERRORS,
    usage_stats: null,
    created_at: expect.any(String),
  };

  it('log detail: the whole row with its error_logs (oldest first)', async () => {
    const res = await call(`/api/logs/${id(2)}`);
    expect(res).toEqual({ status: 200, body: { ...R2_ROW, error_logs: R2_ERROR_LOGS, truncated_fields: [] } });
    const row = res.body as { created_at: string; error_logs: { created_at: string }[] };
    for (const at of [row.created_at, ...row.error_logs.map((e) => e.created_at)]) expect(parseInstant(at)?.toISOString()).toBe(at);
  });

  it('log detail: a stream row keeps its chunks; the Responses API usage is mapped', async () => {
    expect(await call(`/api/logs/${id(12)}`)).toEqual({
      status: 200,
      body: {
        ...ROWS[12],
        method: 'POST',
        query: '',
        headers: { 'content-type': 'application/json' },
        body: { model: 'beta' },
        route: ['beta-1'],
        backend_attempts: [],
        stream_chunks: null,
        errors: [],
        usage_stats: { input_tokens: 300, output_tokens: 400, total_tokens: 700 },
        created_at: expect.any(String),
        error_logs: [],
        truncated_fields: [],
      },
    });
    expect(await call(`/api/logs/${id(9)}`)).toEqual({
      status: 200,
      body: {
        ...ROWS[9],
        method: 'POST',
        query: '',
        headers: { 'content-type': 'application/json' },
        body: { model: 'beta' },
        route: ['beta-1'],
        backend_attempts: [],
        stream_chunks: ['data: {"choices":[]}\n\n'],
        errors: [{ time: '2026-11-27T10:20:20.000Z', type: 'client_disconnect', message: 'client disconnected before the response started', backend: null, http_status: null, context: null }],
        usage_stats: null,
        created_at: expect.any(String),
        error_logs: [
          {
            id: '0a0fc90a-997c-50e1-aadc-234c0f580bf5', // errorLogId(id(9), 0)
            timestamp: '2026-11-27T10:20:20.000Z',
            model_name: 'beta',
            error_type: 'client_disconnect',
            error_message: 'client disconnected before the response started',
            backend_name: null,
            http_status: null,
            request_path: '/v1/chat/completions',
            request_log_id: id(9),
            extra_context: null,
            created_at: expect.any(String),
          },
        ],
        truncated_fields: [],
      },
    });
  });

  it('log detail: large fields cut to max_chars, the preview the same whichever database stored the row', async () => {
    // JSON text with sorted keys: body 60 characters (not over 60: kept), stream_chunks "null",
    // backend_attempts 556, errors 426, headers 68 (over: cut to their first 60 characters).
    expect(await call(`/api/logs/${id(2)}?max_chars=60`)).toEqual({
      status: 200,
      body: {
        ...R2_ROW,
        backend_attempts: { _truncated: true, _original_chars: 556, _preview: '[{"attempt":1,"backend":"beta-1","duration_ms":1000,"error":' },
        errors: { _truncated: true, _original_chars: 426, _preview: '[{"backend":"beta-1","context":{"attempt":1,"url":"http://be' },
        headers: { _truncated: true, _original_chars: 68, _preview: '{"authorization":"Bearer sk-****","content-type":"applicatio' },
        error_logs: R2_ERROR_LOGS,
        truncated_fields: ['backend_attempts', 'errors', 'headers'],
      },
    });
  });

  it('log detail: 404 for an unknown or malformed id, 400 for a bad max_chars', async () => {
    const unknown = id(999);
    expect(await call(`/api/logs/${unknown}`)).toEqual({
      status: 404,
      body: { error: { message: `No request log with id '${unknown}'`, type: 'invalid_request_error', param: null, code: 'log_not_found' } },
    });
    expect(await call('/api/logs/not-a-uuid')).toEqual({
      status: 404,
      body: { error: { message: "No request log with id 'not-a-uuid'", type: 'invalid_request_error', param: null, code: 'log_not_found' } },
    });
    expect(await call(`/api/logs/${id(2)}?max_chars=0`)).toEqual({
      status: 400,
      body: badParam('max_chars', "'max_chars' must be an integer between 1 and 1048576"),
    });
  });

  it('no number arrives as a string', () => {
    expect(got.size).toBeGreaterThan(30);
    expect([...got.values()].flatMap((r) => numericStrings(r.body))).toEqual([]);
  });

  // Last: it breaks the database on purpose.
  it('a failing query: historical.status "error" with the message, still 200', async () => {
    await sql`DROP TABLE usage_rollups`.execute(t.db);
    const message = dialect === 'sqlite' ? 'no such table: usage_rollups' : 'relation "usage_rollups" does not exist';
    const res = await getJson(api.app, '/api/usage?hours=6');
    expect(res).toEqual({
      status: 200,
      body: {
        generated_at: '2026-11-27T12:30:00.000Z',
        realtime: REALTIME,
        historical: {
          enabled: true,
          status: 'error',
          provider: 'database',
          window: { start: '2026-11-27T06:00:00.000Z', end: '2026-11-27T13:00:00.000Z', hours: 7, bucket: 'hour', model: null },
          message,
        },
      },
    });
    expect(api.log.lines).toContain(`warn /api/usage: database query failed: ${message}`);
  });
});

describe('usage without a usable database', () => {
  const apps: TestApp[] = [];
  afterAll(async () => {
    for (const a of apps) await a.pools.close();
  });
  const window = { start: '2026-11-27T06:00:00.000Z', end: '2026-11-27T13:00:00.000Z', hours: 7, bucket: 'hour', model: null };

  it('database logging off: historical "unavailable" with the window only; the logs API is 404', async () => {
    const a = makeApp(() => null, false);
    apps.push(a);
    expect(await getJson(a.app, '/api/usage?hours=6')).toEqual({
      status: 200,
      body: { generated_at: '2026-11-27T12:30:00.000Z', realtime: REALTIME, historical: { enabled: false, status: 'unavailable', provider: 'database', window } },
    });
    // Parameters are still checked.
    expect(await getJson(a.app, '/api/usage?bucket=week')).toEqual({ status: 400, body: badParam('bucket', "'bucket' must be one of minute, hour, day") });
    const unavailable = {
      status: 404,
      body: {
        error: { message: 'Database logging is disabled or the database is not reachable; there are no logs to query', type: 'invalid_request_error', param: null, code: 'logs_unavailable' },
      },
    };
    expect(await getJson(a.app, '/api/logs')).toEqual(unavailable);
    expect(await getJson(a.app, `/api/logs/${id(2)}`)).toEqual(unavailable);
  });

  it('database on but never reached since start-up: historical "error", still 200', async () => {
    const a = makeApp(() => null, true);
    apps.push(a);
    expect(await getJson(a.app, '/api/usage?hours=6')).toEqual({
      status: 200,
      body: {
        generated_at: '2026-11-27T12:30:00.000Z',
        realtime: REALTIME,
        historical: { enabled: true, status: 'error', provider: 'database', window, message: 'the database has not been reachable since start-up' },
      },
    });
  });
});

describe('the same answers on SQLite and PostgreSQL', () => {
  it('every request above gave identical JSON on both dialects (minus generated_at and created_at)', () => {
    expect([...answers.sqlite.keys()]).toEqual([...answers.postgres.keys()]);
    expect(answers.sqlite.size).toBeGreaterThan(30);
    for (const [path, sqlite] of answers.sqlite) {
      expect({ path, ...(comparable(sqlite) as object) }).toStrictEqual({ path, ...(comparable(answers.postgres.get(path)) as object) });
    }
  });
});

describe('rounding and instants', () => {
  it('rates to 4 decimals and averages to 0.1, halves up, without floating-point slips', () => {
    // 57 / 800 = 0.07125 exactly; (57 / 800) × 10 000 is 712.4999… in binary floating point.
    expect(rate(57, 800)).toBe(0.0713);
    expect(rate(1, 3)).toBe(0.3333);
    expect(rate(2, 3)).toBe(0.6667);
    expect(rate(0, 0)).toBeNull();
    expect(avg(23, 20)).toBe(1.2); // 1.15
    expect(avg(2, 3)).toBe(0.7); // 0.666…
    expect(avg(0, 0)).toBeNull();
  });

  it('parses ISO-8601 instants only, zone-less ones as UTC', () => {
    const iso = (s: string) => parseInstant(s)?.toISOString() ?? null;
    expect(iso('2026-11-27')).toBe('2026-11-27T00:00:00.000Z');
    expect(iso('2026-11-27T10:18')).toBe('2026-11-27T10:18:00.000Z');
    expect(iso('2026-11-27T10:18:30.1234Z')).toBe('2026-11-27T10:18:30.123Z');
    expect(iso('2026-11-27T11:18:00+01:00')).toBe('2026-11-27T10:18:00.000Z');
    expect(iso('2026-11-27T11:18:00 01:00')).toBe('2026-11-27T10:18:00.000Z');
    expect(iso('2026-11-27T09:48:00-0030')).toBe('2026-11-27T10:18:00.000Z');
    expect(iso('2026-11-27t10:18:00z')).toBe('2026-11-27T10:18:00.000Z');
    for (const bad of ['1', '2026', '2026-11', 'yesterday', '2026-13-01', '2026-02-29', '2026-11-27T24:00', '2026-11-27T10:60', '2026-11-27T10:18+25:00', '27/11/2026', '']) {
      expect([bad, parseInstant(bad)]).toEqual([bad, null]);
    }
  });
});
