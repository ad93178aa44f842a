/**
 * Seeds a database with realistic request rows THROUGH THE REAL WRITER: the records go to
 * `startDatabaseLogging` — the same open/migrate/writer path and the same `afterInsert` rollup
 * hook the proxy uses — so `request_logs`, `error_logs` and `usage_rollups` end up exactly as a
 * proxy that served that traffic would leave them.
 *
 *   npx tsx scripts/seed.ts [--dialect sqlite|postgres] [--rows 1000000] [--days 35]
 *                           [--db <sqlite file> | <postgres://… URL>] [--append] [--seed 42]
 *
 * Defaults: SQLite `.bench/usage-1m.db`; PostgreSQL `postgres://postgres@127.0.0.1:5432/yallmp_bench`.
 * Without `--append` the target starts empty: the SQLite file is deleted, the PostgreSQL database
 * dropped and re-created (only databases named `yallmp_*`). Records are published oldest first, as
 * requests finishing would be, with back-pressure so the writer's queue never overflows to the
 * spool. Progress (rows, rows/s, ETA) goes to stderr. Afterwards the row counts are checked, and
 * on PostgreSQL `VACUUM (ANALYZE)` runs on the three tables (what autovacuum does to an
 * insert-heavy table; SQLite gets no ANALYZE, as a proxy's file never does). The figures are saved
 * for `scripts/bench-usage.ts` in `.bench/seed-info/`.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import type { Logger } from '../src/app.ts';
import { createDatabase } from '../src/db/factory.ts';
import { startDatabaseLogging } from '../src/db/logging.ts';
import { createProgress } from './bench-usage/progress.ts';
import { createRecordGenerator } from './bench-usage/records.ts';
import { ensureExists, parseDialect, recreate, resolveTarget, ROOT, seedInfoPath, type SeedInfo } from './bench-usage/target.ts';

const { values: args } = parseArgs({
  options: {
    dialect: { type: 'string', default: 'sqlite' },
    rows: { type: 'string', default: '1000000' },
    days: { type: 'string', default: '35' },
    db: { type: 'string' },
    seed: { type: 'string', default: '42' },
    append: { type: 'boolean', default: false },
  },
});

const ROWS = Number(args.rows);
const DAYS = Number(args.days);
if (!Number.isInteger(ROWS) || ROWS < 1) throw new Error('--rows must be a positive integer');
if (!(DAYS > 0)) throw new Error('--days must be positive');

/** The writer's queue is kept between these marks: full batches, never a spill to the spool. */
const HIGH_WATER = 20_000;
const PUBLISH_CHUNK = 500;

const log: Logger = {
  info: (m) => process.stderr.write(`\n[seed] ${m}\n`),
  warn: (m) => process.stderr.write(`\n[seed] WARN ${m}\n`),
  error: (m) => process.stderr.write(`\n[seed] ERROR ${m}\n`),
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

async function main(): Promise<void> {
  const dialect = parseDialect(args.dialect);
  const target = resolveTarget(dialect, args.db);
  const loadBefore = loadavg()[0] ?? 0;
  if (args.append) await ensureExists(target);
  else await recreate(target);
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  const spoolDir = mkdtempSync(join(ROOT, '.bench', 'spool-seed-'));
  process.stderr.write(`[seed] ${ROWS.toLocaleString('en-US')} records over ${DAYS} days → ${dialect} ${target.label}${args.append ? ' (append)' : ''}\n`);

  const logging = await startDatabaseLogging({ config: { ...target.config, spoolDir }, rootDir: ROOT, log });
  const { writer } = logging;
  const before = await counts(target);
  const gen = createRecordGenerator({ total: ROWS, days: DAYS, end: new Date(), seed: Number(args.seed) });
  const progress = createProgress(`[seed ${dialect}]`, ROWS);
  let bytes = 0;
  let sampled = 0;
  let errorEvents = 0;

  const t0 = performance.now();
  let published = 0;
  while (published < ROWS) {
    while (writer.stats.queued > HIGH_WATER) {
      progress.update(writer.stats.written);
      await sleep(5);
    }
    const n = Math.min(PUBLISH_CHUNK, ROWS - published);
    for (let k = 0; k < n; k++) {
      const record = gen.next();
      errorEvents += record.errors.length;
      if ((published + k) % 1000 === 0) {
        bytes += JSON.stringify(record).length;
        sampled++;
      }
      writer.publish(record);
    }
    published += n;
    progress.update(writer.stats.written);
    await yieldLoop(); // lets the writer encode and flush
  }
  const drained = logging.close();
  while (writer.stats.written + writer.stats.spooled + writer.stats.dropped < ROWS) {
    progress.update(writer.stats.written);
    await sleep(100);
  }
  await drained;
  const seconds = (performance.now() - t0) / 1000;
  progress.finish(writer.stats.written);
  if (writer.stats.spooled || writer.stats.dropped || writer.stats.writeErrors) {
    throw new Error(`the writer did not commit every row: ${JSON.stringify(writer.stats)} (spool: ${spoolDir})`);
  }
  if (readdirSync(spoolDir).length === 0) rmSync(spoolDir, { recursive: true, force: true });

  const after = await counts(target);
  const added = { requests: after.requests - before.requests, errors: after.errors - before.errors, rollup: after.rollupHour - before.rollupHour };
  if (added.requests !== ROWS || added.errors !== errorEvents || added.rollup !== ROWS) {
    throw new Error(`row counts do not add up: ${JSON.stringify({ expected: { requests: ROWS, errors: errorEvents }, added })}`);
  }
  process.stderr.write(`[seed] checked: +${ROWS} request_logs, +${errorEvents} error_logs, hour rollups count +${ROWS}; ${after.rollupRows} usage_rollups rows\n`);

  if (dialect === 'postgres') {
    const tv = performance.now();
    const h = createDatabase(target.config);
    try {
      for (const table of ['request_logs', 'error_logs', 'usage_rollups']) await sql`vacuum (analyze) ${sql.table(table)}`.execute(h.db);
    } finally {
      await h.close();
    }
    process.stderr.write(`[seed] vacuum (analyze) in ${((performance.now() - tv) / 1000).toFixed(1)} s\n`);
  }

  const info: SeedInfo = {
    date: new Date().toISOString(),
    command: `npx tsx scripts/seed.ts ${process.argv.slice(2).join(' ')}`.trim(),
    dialect,
    target: target.label,
    rows: after.requests,
    errorRows: after.errors,
    days: DAYS,
    seconds: Math.round(seconds * 10) / 10,
    rowsPerSec: Math.round(ROWS / seconds),
    bytesPerRecord: Math.round(bytes / Math.max(1, sampled)),
    loadBefore,
    loadAfter: loadavg()[0] ?? 0,
  };
  const infoPath = seedInfoPath(target);
  mkdirSync(dirname(infoPath), { recursive: true });
  writeFileSync(infoPath, `${JSON.stringify(info, null, 2)}\n`);
  process.stderr.write(`[seed] done: ${info.rowsPerSec.toLocaleString('en-US')} rows/s, ~${info.bytesPerRecord} bytes of JSON per record; figures in ${infoPath}\n`);
}

async function counts(target: ReturnType<typeof resolveTarget>) {
  const h = createDatabase(target.config);
  try {
    const one = async (q: Promise<{ rows: { n: unknown }[] }>): Promise<number> => Number((await q).rows[0]?.n ?? 0);
    return {
      requests: await one(sql<{ n: unknown }>`select count(*) as n from request_logs`.execute(h.db)),
      errors: await one(sql<{ n: unknown }>`select count(*) as n from error_logs`.execute(h.db)),
      rollupHour: await one(sql<{ n: unknown }>`select coalesce(sum(request_count), 0) as n from usage_rollups where granularity = 'hour'`.execute(h.db)),
      rollupRows: await one(sql<{ n: unknown }>`select count(*) as n from usage_rollups`.execute(h.db)),
    };
  } finally {
    await h.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`\n[seed] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
