/**
 * Usage and logs API benchmark (not a test): against databases seeded by `scripts/seed.ts`, starts
 * the real app (`startProxy`, database as the usage/logs source, no sink) and measures, with
 * sequential requests, the latency of `/api/usage` (24 h, 24 h for one model, 30 d by day and by
 * hour, 1 h by minute) and `/api/logs` (first page with and without `total`, filtered by model and
 * outcome, second page by cursor, error-text search). Prints a table and rewrites the `bench:usage`
 * section of docs/benchmarks.md.
 *
 *   npx tsx scripts/bench-usage.ts [--dialects sqlite,postgres] [--sqlite-db .bench/usage-1m.db]
 *                                  [--pg-db postgres://postgres@127.0.0.1:5432/yallmp_bench]
 *                                  [--rounds 200] [--warmup 20] [--no-write]
 *
 * Pending migrations are applied first (as the proxy does at start-up), and timed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sql, type RawBuilder } from 'kysely';
import { stringify } from 'yaml';
import type { Logger } from '../src/app.ts';
import { loadConfig } from '../src/config/load.ts';
import type { ProxyConfig } from '../src/config/types.ts';
import type { Dialect } from '../src/db/dialect.ts';
import { createDatabase, type DatabaseHandle } from '../src/db/factory.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { nullSink } from '../src/logging/fanout.ts';
import { startProxy } from '../src/server.ts';
import { measureAll, type Probe } from './bench-usage/measure.ts';
import { renderReport, verdicts, writeSection, type DialectRun } from './bench-usage/report.ts';
import { parseDialect, resolveTarget, ROOT, seedInfoPath, type SeedInfo, type Target } from './bench-usage/target.ts';

const { values: args } = parseArgs({
  options: {
    dialects: { type: 'string', default: 'sqlite,postgres' },
    'sqlite-db': { type: 'string' },
    'pg-db': { type: 'string' },
    rounds: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '20' },
    model: { type: 'string', default: 'claude-3-5-sonnet' },
    'no-write': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(args.rounds);
const WARMUP = Number(args.warmup);
const MODEL = args.model;

const log: Logger = { info: () => {}, warn: (m) => console.warn(`WARN ${m}`), error: (m) => console.error(`ERROR ${m}`) };

type Json = Record<string, unknown>;
const usageCheck = (body: unknown): string | null => {
  const h = (body as Json).historical as Json | undefined;
  if (h?.status !== 'available') return `historical.status is ${String(h?.status)}: ${String(h?.message ?? '')}`;
  const total = (h.total_stats as Json | undefined)?.total_requests;
  return typeof total === 'number' && total > 0 ? null : 'no requests in the window';
};
const logsCheck = (body: unknown): string | null => {
  const data = (body as Json).data;
  return Array.isArray(data) && data.length > 0 ? null : 'empty page';
};

function probes(cursor: string): Probe[] {
  const u = (name: string, path: string, target = true): Probe => ({ name, path, target, check: usageCheck });
  const l = (name: string, path: string, target = true): Probe => ({ name, path, target, check: logsCheck });
  return [
    u('usage 24 h', '/api/usage?hours=24'),
    u('usage 24 h, one model', `/api/usage?hours=24&model=${encodeURIComponent(MODEL)}`),
    u('usage 30 d (default bucket: day)', '/api/usage?hours=720'),
    u('usage 30 d, bucket=day', '/api/usage?hours=720&bucket=day'),
    u('usage 30 d, bucket=hour', '/api/usage?hours=720&bucket=hour', false),
    u('usage 1 h (minute buckets)', '/api/usage?hours=1', false),
    l('logs first page', '/api/logs'),
    l('logs first page + total (the /logs page)', '/api/logs?total=1'),
    l('logs first page, model filter', `/api/logs?model=${encodeURIComponent(MODEL)}`),
    l('logs first page, outcome=error', '/api/logs?outcome=error'),
    l('logs first page, outcome=cancelled + total', '/api/logs?outcome=cancelled&total=1'),
    l('logs second page (cursor)', `/api/logs?cursor=${cursor}`, false),
    l('logs error-text search', '/api/logs?search=ECONNREFUSED', false),
  ];
}

function benchConfig(): ProxyConfig {
  const dir = mkdtempSync(join(tmpdir(), 'yallmp-bench-usage-'));
  try {
    const defaultPath = join(dir, 'config_default.yaml');
    const addedPath = join(dir, 'config_added.yaml');
    writeFileSync(defaultPath, stringify({ model_list: [{ model_name: MODEL, model_params: { api_base: 'http://127.0.0.1:9/v1', api_key: 'sk-unused' } }] }));
    writeFileSync(addedPath, stringify({ model_list: [], router_settings: { fallbacks: [] } }));
    // env {}: nothing from the shell (admin token, ports) changes what is measured.
    const loaded = loadConfig({ defaultPath, addedPath, env: {}, rootDir: dir });
    if (!loaded.ok) throw new Error(`bench config invalid:\n${loaded.errors.join('\n')}`);
    return loaded.config;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function count(h: DatabaseHandle, q: RawBuilder<{ n: unknown }>): Promise<number> {
  const { rows } = await q.execute(h.db);
  return Number(rows[0]?.n ?? 0);
}

async function sizeMiB(t: Target, h: DatabaseHandle): Promise<number | null> {
  if (t.dialect === 'sqlite') {
    const f = t.config.sqlite.path;
    const bytes = [f, `${f}-wal`].filter(existsSync).reduce((n, p) => n + statSync(p).size, 0);
    return bytes / 2 ** 20;
  }
  return (await count(h, sql<{ n: unknown }>`select pg_database_size(current_database()) as n`)) / 2 ** 20;
}

function readSeedInfo(t: Target): SeedInfo | null {
  const p = seedInfoPath(t);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as SeedInfo) : null;
}

async function runDialect(dialect: Dialect, config: ProxyConfig): Promise<DialectRun> {
  const t = resolveTarget(dialect, dialect === 'sqlite' ? args['sqlite-db'] : args['pg-db']);
  if (dialect === 'sqlite' && !existsSync(t.config.sqlite.path)) throw new Error(`${t.label} does not exist: run scripts/seed.ts first`);
  const h = createDatabase(t.config);
  try {
    const tm = performance.now();
    const applied = await migrateToLatest(h.db, dialect);
    const migrated = { names: applied.map((m) => m.migrationName), seconds: (performance.now() - tm) / 1000 };
    if (migrated.names.length) console.log(`${dialect}: applied ${migrated.names.join(', ')} in ${migrated.seconds.toFixed(1)} s`);
    const requestRows = await count(h, sql<{ n: unknown }>`select count(*) as n from request_logs`);
    const errorRows = await count(h, sql<{ n: unknown }>`select count(*) as n from error_logs`);
    const rollupRows = await count(h, sql<{ n: unknown }>`select count(*) as n from usage_rollups`);
    const since = new Date(Date.now() - 720 * 3_600_000).toISOString();
    const since30d = dialect === 'postgres' ? sql`${since}::timestamptz` : sql`${since}`;
    const hourRows30d = await count(h, sql<{ n: unknown }>`select count(*) as n from usage_rollups where granularity = 'hour' and bucket_start >= ${since30d}`);
    console.log(`${dialect}: ${requestRows} request_logs, ${errorRows} error_logs, ${rollupRows} usage_rollups rows (${hourRows30d} hour rows in the last 30 d)`);

    const proxy = await startProxy({ config, sink: nullSink, log, host: '127.0.0.1', port: 0, usage: { db: h.db, dialect } });
    try {
      const first = (await (await fetch(`${proxy.url}/api/logs`)).json()) as { next_cursor?: string | null };
      if (!first.next_cursor) throw new Error(`${dialect}: /api/logs gave no next_cursor`);
      const ps = probes(first.next_cursor);
      const loadBefore = loadavg()[0] ?? 0;
      const results = await measureAll(proxy.url, ps, {
        rounds: ROUNDS,
        warmup: WARMUP,
        onRound: (i) => {
          if ((i + 1) % 50 === 0) process.stderr.write(`${dialect}: round ${i + 1}/${ROUNDS + WARMUP}\n`);
        },
      });
      const loadAfter = loadavg()[0] ?? 0;
      for (const p of ps) {
        const r = results.get(p.name)!;
        console.log(`${dialect.padEnd(8)} ${p.name.padEnd(44)} p50 ${r.p50.toFixed(1).padStart(7)}  p95 ${r.p95.toFixed(1).padStart(7)}  p99 ${r.p99.toFixed(1).padStart(7)}  max ${r.max.toFixed(1).padStart(7)} ms`);
      }
      return { dialect, target: t.label, requestRows, errorRows, rollupRows, hourRows30d, sizeMiB: await sizeMiB(t, h), migrated, seed: readSeedInfo(t), results, loadBefore, loadAfter };
    } finally {
      await proxy.close(500);
    }
  } finally {
    await h.close();
  }
}

async function main(): Promise<void> {
  const dialects = args.dialects.split(',').map((d) => parseDialect(d.trim()));
  const config = benchConfig();
  const runs: DialectRun[] = [];
  // One dialect after the other: they share the machine's two cores.
  for (const d of dialects) runs.push(await runDialect(d, config));
  const input = { command: `npx tsx scripts/bench-usage.ts ${process.argv.slice(2).join(' ')}`.trim(), rounds: ROUNDS, warmup: WARMUP, probes: probes('…'), runs };
  const text = renderReport(input);
  console.log(`\n${text}`);
  if (!args['no-write']) writeSection(join(ROOT, 'docs', 'benchmarks.md'), text);
  const { ok, failures } = verdicts(input);
  if (!ok) console.error(`targets missed: ${failures.join('; ')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
