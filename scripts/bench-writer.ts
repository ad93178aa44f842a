/**
 * Database writer benchmark (not a test): rows/s the writer commits on SQLite (worker thread) and
 * PostgreSQL (pool), and the event-loop delay of the publishing thread while it writes. Prints a
 * table and rewrites the `bench:writer` section of docs/benchmarks.md.
 *
 *   npm run bench:writer -- [--rows 40000] [--paced-seconds 5] [--rounds 3]
 *                                   [--pg-url postgres://…] [--dialects sqlite,postgres] [--no-write]
 *
 * Each dialect is measured `--rounds` times (rounds interleaved across dialects); the report shows
 * the median and the range, because a shared 2-core machine is noisy.
 *
 * PostgreSQL: `--pg-url` or YALLMP_TEST_PG_URL; a fresh database is created on that server and
 * dropped afterwards. Without either, the PostgreSQL rows are skipped.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ownNodeFlagsNote } from './bench/processes.ts';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import * as v from 'valibot';
import type { Logger } from '../src/app.ts';
import { settingsSchema } from '../src/config/schema.ts';
import type { DatabaseConfig } from '../src/config/types.ts';
import type { Dialect } from '../src/db/dialect.ts';
import { createDatabase } from '../src/db/factory.ts';
import type { DatabaseHandle } from '../src/db/factory.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { ROLLUP_HOOK } from '../src/db/logging.ts';
import { createDbWriter } from '../src/db/writer.ts';
import type { RequestRecord } from '../src/logging/types.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DOC = join(ROOT, 'docs', 'benchmarks.md');
const START = '<!-- bench:writer:start -->';
const END = '<!-- bench:writer:end -->';
const TARGET_ROWS: Record<Dialect, number> = { sqlite: 20_000, postgres: 10_000 };
const TARGET_P99_MS = 5;

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '40000' },
    'paced-seconds': { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    'pg-url': { type: 'string' },
    dialects: { type: 'string', default: 'sqlite,postgres' },
    'no-write': { type: 'boolean', default: false },
  },
});
const ROWS = Number(args.rows);
const PACED_S = Number(args['paced-seconds']);
const ROUNDS = Math.max(1, Number(args.rounds));
const PG_URL = args['pg-url'] ?? process.env.YALLMP_TEST_PG_URL ?? '';

const log: Logger = { info: () => {}, warn: (m) => console.warn(`WARN ${m}`), error: (m) => console.error(`ERROR ${m}`) };

const chunk = (i: number, k: number): string =>
  `data: {"id":"chatcmpl-${i}","object":"chat.completion.chunk","created":1767787200,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"word${k} "},"finish_reason":null}]}\n\n`;

/** A realistic mix: half streamed (8 captured chunks), one in ten with a retried 503 first. */
export function benchRecord(i: number): RequestRecord {
  const stream = i % 2 === 0;
  const failedFirst = i % 10 === 0;
  const url = 'https://api.openai.com/v1/chat/completions';
  const ok = { backend: 'gpt-4o-mini', attempt: failedFirst ? 2 : 1, url, status: 200, durationMs: 420, ttfbMs: 120, error: null, errorType: null };
  const completion = '{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"A haiku about requests."},"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":9,"total_tokens":33}}';
  return {
    id: randomUUID(),
    requestTime: new Date().toISOString(),
    model: 'gpt-4o-mini',
    isStream: stream,
    path: '/v1/chat/completions',
    method: 'POST',
    query: '',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-****', 'user-agent': 'OpenAI/JS 6.30.1', accept: 'application/json', host: '127.0.0.1:7979' },
    body: { model: 'gpt-4o-mini', stream, messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: `Write a haiku about request ${i}.` }] },
    bodyTruncated: false,
    route: ['gpt-4o-mini', 'llama-3.3-70b'],
    attempts: [
      ...(failedFirst
        ? [{ backend: 'gpt-4o-mini', attempt: 1, url, status: 503, durationMs: 30, ttfbMs: 30, error: 'gpt-4o-mini returned retryable status 503', errorType: 'http_retryable' as const, responseHeaders: { 'content-type': 'application/json' }, responseBody: '{"error":{"message":"overloaded"}}' }]
        : []),
      { ...ok, responseHeaders: { 'content-type': stream ? 'text/event-stream' : 'application/json', 'x-request-id': 'req_abc' }, responseBody: stream ? null : completion },
    ],
    streamChunks: stream ? Array.from({ length: 8 }, (_, k) => chunk(i, k)) : [],
    streamChunksDropped: 0,
    errors: failedFirst
      ? [{ time: new Date().toISOString(), type: 'http_retryable', message: 'gpt-4o-mini returned retryable status 503', backend: 'gpt-4o-mini', httpStatus: 503, context: { url, attempt: 1, body: '{"error":{"message":"overloaded"}}' } }]
      : [],
    usage: { prompt_tokens: 24, completion_tokens: 9, total_tokens: 33 },
    finishReason: 'stop',
    outcome: 'success',
    statusCode: 200,
    backendName: 'gpt-4o-mini',
    durationMs: 450,
    ttfbMs: 125,
    responseBody: stream ? null : completion,
  };
}

interface Target {
  readonly dialect: Dialect;
  readonly handle: DatabaseHandle;
  readonly sqliteFile: string | null;
  /** PostgreSQL: the bench database's connection settings (for the writer thread). */
  readonly postgres: DatabaseConfig['postgres'] | null;
  drop(): Promise<void>;
}

/** The default `database.batch` settings, from the config schema (what an unset section gets). */
const BATCHING = (() => {
  const { max_rows, max_ms } = v.parse(settingsSchema, {}).database.batch;
  return { batchMaxRows: max_rows, batchMaxMs: max_ms };
})();

const BASE: Omit<DatabaseConfig, 'backend' | 'sqlite' | 'postgres'> = {
  enabled: true, autoMigrate: true, poolSize: 5, maxOverflow: 10, batchMaxRows: 500, batchMaxMs: 50, queueMaxRows: 50_000, spoolDir: '',
  retention: { rawDays: 0, minuteRollupDays: 0, hourRollupDays: 0, intervalMs: 600_000 },
};

async function openTarget(dialect: Dialect, dir: string): Promise<Target> {
  if (dialect === 'sqlite') {
    const file = join(dir, 'bench.db');
    const cfg = { ...BASE, backend: 'sqlite', sqlite: { path: file }, postgres: { host: '', port: 0, database: '', user: '', password: '' } } as DatabaseConfig;
    const handle = createDatabase(cfg);
    await migrateToLatest(handle.db, 'sqlite');
    return { dialect, handle, sqliteFile: file, postgres: null, drop: () => handle.close() };
  }
  const u = new URL(PG_URL);
  const pgCfg = (database: string): DatabaseConfig => ({
    ...BASE,
    backend: 'postgres',
    sqlite: { path: ':memory:' },
    postgres: { host: u.hostname, port: Number(u.port || 5432), database, user: decodeURIComponent(u.username) || 'postgres', password: decodeURIComponent(u.password) },
  });
  const name = `yallmp_bench_${randomBytes(4).toString('hex')}`;
  const admin = createDatabase(pgCfg(decodeURIComponent(u.pathname.slice(1)) || 'postgres'));
  await sql`create database ${sql.id(name)}`.execute(admin.db);
  const handle = createDatabase(pgCfg(name));
  await migrateToLatest(handle.db, 'postgres');
  return {
    dialect,
    handle,
    sqliteFile: null,
    postgres: pgCfg(name).postgres,
    drop: async () => {
      await handle.close();
      await sql`drop database if exists ${sql.id(name)} with (force)`.execute(admin.db);
      await admin.close();
    },
  };
}

function writerFor(t: Target, spoolDir: string) {
  return createDbWriter({
    dialect: t.dialect,
    // The proxy's writers: SQLite's and PostgreSQL's writer threads (see startDatabaseLogging).
    ...(t.sqliteFile ? { sqliteFile: t.sqliteFile } : { postgres: t.postgres! }),
    config: { ...BATCHING, queueMaxRows: 1_000_000 },
    spoolDir,
    log,
    // As the proxy writes: usage rollups commit in the same transaction as the rows.
    afterInsertModule: ROLLUP_HOOK,
  });
}

async function countRows(t: Target): Promise<number> {
  const r = await t.handle.db.selectFrom('request_logs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

interface Result {
  dialect: Dialect;
  rowsPerSec: number;
  bytesPerRow: number;
  pacedRate: number;
  /** CPU of this process (every thread) per row in the paced run, less generating the records. */
  cpuPerRow: number;
  p50: number;
  p99: number;
  max: number;
}

/** Everything published at once, timed until close() has committed it all. */
async function throughput(t: Target, dir: string): Promise<{ rowsPerSec: number; bytesPerRow: number }> {
  const records = Array.from({ length: ROWS }, (_, i) => benchRecord(i));
  const bytesPerRow = Math.round(records.slice(0, 1000).reduce((n, r) => n + JSON.stringify(r).length, 0) / 1000);
  const warm = writerFor(t, join(dir, `spool-${t.dialect}-warm`));
  for (let i = 0; i < 2000; i++) warm.publish(benchRecord(i));
  await warm.close();
  const w = writerFor(t, join(dir, `spool-${t.dialect}`));
  await new Promise((r) => setTimeout(r, 1500)); // the SQLite worker loads its modules
  const before = await countRows(t);
  const t0 = performance.now();
  for (const r of records) w.publish(r);
  await w.close();
  const seconds = (performance.now() - t0) / 1000;
  if (w.stats.spooled || w.stats.dropped || (await countRows(t)) - before !== ROWS) throw new Error(`${t.dialect}: rows missing ${JSON.stringify(w.stats)}`);
  return { rowsPerSec: Math.round(ROWS / seconds), bytesPerRow };
}

async function measure(t: Target, dir: string): Promise<Result> {
  // In its own function so that its 40,000 records are garbage before the paced run.
  const { rowsPerSec, bytesPerRow } = await throughput(t, dir);

  // Event-loop delay: records arrive steadily (as requests finish) at half the measured rate.
  const pacedRate = Math.round(rowsPerSec / 2 / 100) * 100;
  const paced = writerFor(t, join(dir, `spool-${t.dialect}-paced`));
  await new Promise((r) => setTimeout(r, 1500));
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const cpu0 = process.cpuUsage();
  const end = performance.now() + PACED_S * 1000;
  let sent = 0;
  const tStart = performance.now();
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - tStart) / 1000) * pacedRate);
    for (; sent < due; sent++) paced.publish(benchRecord(sent));
    await new Promise((r) => setTimeout(r, 2));
  }
  await paced.close();
  const cpu = process.cpuUsage(cpu0);
  h.disable();
  const cpuPerRow = (cpu.user + cpu.system) / sent - recordCostUs();
  const ms = (ns: number): number => Math.round((ns / 1e6) * 10) / 10;
  return { dialect: t.dialect, rowsPerSec, bytesPerRow, pacedRate, cpuPerRow, p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) };
}

/** CPU µs this process spends making one benchmark record (not the writer's cost). */
function recordCostUs(): number {
  const n = 5_000;
  const c0 = process.cpuUsage();
  let keep = 0;
  for (let i = 0; i < n; i++) keep += benchRecord(i).id.length;
  const c = process.cpuUsage(c0);
  return keep > 0 ? (c.user + c.system) / n : 0;
}

const median = (xs: readonly number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};
const range = (xs: readonly number[], fmt: (n: number) => string): string =>
  xs.length > 1 ? ` (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` : '';
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms1 = (n: number): string => `${Math.round(n * 10) / 10}`;

function report(results: readonly Result[], skipped: readonly string[], loadBefore: readonly number[]): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const ok = (v: boolean): string => (v ? '✅' : '❌');
  const rows = (['sqlite', 'postgres'] as const).flatMap((dialect) => {
    const rs = results.filter((r) => r.dialect === dialect);
    if (!rs.length) return [];
    const rps = rs.map((r) => r.rowsPerSec);
    const p99 = rs.map((r) => r.p99);
    return [
      `| ${dialect} | ${int(median(rps))}${range(rps, int)} | ≥ ${int(TARGET_ROWS[dialect])} ${ok(median(rps) >= TARGET_ROWS[dialect])} | ${int(median(rs.map((r) => r.pacedRate)))} | ${int(median(rs.map((r) => r.cpuPerRow)))} µs | ${ms1(median(rs.map((r) => r.p50)))} ms | ${ms1(median(p99))} ms${range(p99, ms1)} | ${ms1(Math.max(...rs.map((r) => r.max)))} ms | ≤ ${TARGET_P99_MS} ms ${ok(median(p99) <= TARGET_P99_MS)} |`,
    ];
  });
  return [
    START,
    '## Database writer',
    '',
    '_Written by `npm run bench:writer`; everything between the `bench:writer` markers is replaced on each run._',
    '',
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${cpu} × ${cpus().length} logical CPUs, ${platform()} ${release()} ${arch()}; Node ${process.version}; 1-min load average ${loadBefore[0]?.toFixed(2)} before, ${loadavg()[0]?.toFixed(2)} after (PostgreSQL runs on the same machine)`,
    `- Command: \`npm run bench:writer -- --rounds ${ROUNDS}\` (${ownNodeFlagsNote()}); median of ${ROUNDS} round(s), range in parentheses`,
    '',
    '| dialect | rows/s | target | paced rows/s | CPU per row (paced) | loop delay p50 | p99 | max | p99 target |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    ...skipped.map((s) => `| ${s} | skipped (no PostgreSQL URL) | | | | | | | |`),
    '',
    '### Method',
    `- **rows/s**: ${int(ROWS)} RequestRecords published at once into a writer with the default batching (${int(BATCHING.batchMaxRows)} rows / ${BATCHING.batchMaxMs} ms) and the usage-rollup hook the proxy runs in every batch's transaction, timed until \`close()\` has committed them all; the row count is checked afterwards. Records are a realistic mix (~${results[0]?.bytesPerRow ?? '?'} bytes of JSON each: half streamed with 8 captured chunks, one in ten with a retried 503 and so an \`error_logs\` row too). SQLite: the writer thread on a WAL file (its checkpoints in a second thread); PostgreSQL: the writer thread with its own connections, on a fresh database. Both as \`startDatabaseLogging\` sets them up for the proxy.`,
    `- **loop delay**: the same records published steadily at half the measured rate for ${PACED_S} s (as requests finishing would), while \`monitorEventLoopDelay\` (1 ms resolution) watches the publishing thread. It includes GC pauses, which dominate the tail: records wait in the queue for up to a batch interval and so survive young-generation collections.`,
    '- **CPU per row**: user + system CPU of the benchmark process, every thread (the writer threads included; PostgreSQL\'s own server processes not), over the paced run, divided by its rows, less what generating one record costs (measured separately). On a shared machine this is steadier than rows/s: it counts work, not waiting.',
    '- The proxy\'s requests/s with default logging (files + SQLite) against sinks disabled is the `proxy-logging` row of the proxy section (`npm run bench -- --sink none,default`).',
    END,
  ].join('\n');
}

function writeSection(text: string): void {
  const existing = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '';
  const start = existing.indexOf(START);
  const end = existing.indexOf(END, Math.max(0, start));
  const out = start !== -1 && end !== -1
    ? existing.slice(0, start) + text + existing.slice(end + END.length)
    : existing.trim() === '' ? `# Benchmarks\n\n${text}\n` : `${existing.trimEnd()}\n\n${text}\n`;
  mkdirSync(dirname(DOC), { recursive: true });
  writeFileSync(DOC, out);
}

async function main(): Promise<void> {
  const loadBefore = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'yallmp-bench-writer-'));
  const results: Result[] = [];
  const dialects = args.dialects.split(',') as Dialect[];
  const skipped = dialects.filter((d) => d === 'postgres' && !PG_URL);
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const dialect of dialects.filter((d) => !skipped.includes(d))) {
        const t = await openTarget(dialect, dir);
        try {
          const r = await measure(t, dir);
          console.log(`round ${round} ${dialect}: ${r.rowsPerSec} rows/s; paced ${r.pacedRate} rows/s: CPU ${r.cpuPerRow.toFixed(1)} µs/row, loop delay p50 ${r.p50} ms, p99 ${r.p99} ms, max ${r.max} ms`);
          results.push(r);
        } finally {
          await t.drop();
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const text = report(results, skipped, loadBefore);
  console.log(`\n${text}`);
  if (!args['no-write']) writeSection(text);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
