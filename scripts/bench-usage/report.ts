/** The `bench:usage` section of docs/benchmarks.md. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform, release, totalmem } from 'node:os';
import { dirname } from 'node:path';
import type { Dialect } from '../../src/db/dialect.ts';
import type { Latencies, Probe } from './measure.ts';
import type { SeedInfo } from './target.ts';

export const START = '<!-- bench:usage:start -->';
export const END = '<!-- bench:usage:end -->';
const AFTER = '<!-- bench:writer:end -->';
export const TARGET_P95_MS = 50;

export interface DialectRun {
  readonly dialect: Dialect;
  readonly target: string;
  readonly requestRows: number;
  readonly errorRows: number;
  readonly rollupRows: number;
  /** Hour rollups a 30-day window sums. */
  readonly hourRows30d: number;
  readonly sizeMiB: number | null;
  readonly migrated: { readonly names: readonly string[]; readonly seconds: number };
  readonly seed: SeedInfo | null;
  readonly results: Map<string, Latencies>;
  readonly loadBefore: number;
  readonly loadAfter: number;
}

export interface ReportInput {
  readonly command: string;
  readonly rounds: number;
  readonly warmup: number;
  readonly probes: readonly Probe[];
  readonly runs: readonly DialectRun[];
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined): string => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(1));

export function verdicts(input: ReportInput): { ok: boolean; failures: string[] } {
  const failures: string[] = [];
  for (const run of input.runs) {
    for (const p of input.probes) {
      const r = run.results.get(p.name);
      if (p.target && r && r.p95 > TARGET_P95_MS) failures.push(`${run.dialect} ${p.name}: p95 ${ms(r.p95)} ms`);
    }
  }
  return { ok: failures.length === 0, failures };
}

export function renderReport(input: ReportInput): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const { ok, failures } = verdicts(input);
  const names: Record<Dialect, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL' };
  const head = ['| Request | target |', '|---|---|'];
  for (const run of input.runs) {
    head[0] += ` ${names[run.dialect]} p50 | p95 | p99 | max |`;
    head[1] += '---:|---:|---:|---:|';
  }
  const rows = input.probes.map((p) => {
    let line = `| ${p.name} (\`${p.path.replace(/cursor=[^&]+/, 'cursor=…')}\`) | ${p.target ? `p95 ≤ ${TARGET_P95_MS} ms` : '–'} |`;
    for (const run of input.runs) {
      const r = run.results.get(p.name);
      const mark = p.target && r ? (r.p95 <= TARGET_P95_MS ? ' ✅' : ' ❌') : '';
      line += ` ${ms(r?.p50)} | **${ms(r?.p95)}**${mark} | ${ms(r?.p99)} | ${ms(r?.max)} |`;
    }
    return line;
  });
  const data = input.runs.map((run) => {
    const seed = run.seed
      ? `seeded by \`${run.seed.command}\` on ${run.seed.date.slice(0, 16).replace('T', ' ')} UTC in ${int(run.seed.seconds)} s = **${int(run.seed.rowsPerSec)} rows/s** through the real writer (~${int(run.seed.bytesPerRecord)} bytes of JSON per record; load average ${run.seed.loadBefore.toFixed(2)} → ${run.seed.loadAfter.toFixed(2)})`
      : 'seeding figures not found (seeded elsewhere or by hand)';
    const migrated = run.migrated.names.length ? `; migrations applied at start (${run.migrated.names.join(', ')}) in ${run.migrated.seconds.toFixed(1)} s` : '';
    return `- **${names[run.dialect]}** (\`${run.target}\`${run.sizeMiB === null ? '' : `, ${int(run.sizeMiB)} MiB`}): ${int(run.requestRows)} request_logs, ${int(run.errorRows)} error_logs, ${int(run.rollupRows)} usage_rollups rows (${int(run.hourRows30d)} hour rows in the last 30 d); ${seed}${migrated}. Load average ${run.loadBefore.toFixed(2)} before the measurements, ${run.loadAfter.toFixed(2)} after.`;
  });
  return [
    START,
    '## Usage and logs API on a million rows',
    '',
    '_Written by `npx tsx scripts/bench-usage.ts` against databases seeded by `npx tsx scripts/seed.ts`; everything between the `bench:usage` markers is replaced on each run._',
    '',
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${cpu} × ${cpus().length} logical CPUs, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, ${platform()} ${release()} ${arch()}; Node ${process.version}; PostgreSQL on the same machine; the 2 cores were shared with other work during the run (see the load averages)`,
    `- Command: \`${input.command}\``,
    ...data,
    '',
    `Latency in ms, ${input.rounds} sequential requests per row after ${input.warmup} warm-up rounds (one request at a time over keep-alive, rows interleaved), from sending the request to the last byte of the JSON answer, through the real app (\`startProxy\` with the database as its usage/logs source).`,
    '',
    ...head,
    ...rows,
    '',
    `**Targets** (p95 ≤ ${TARGET_P95_MS} ms for /api/usage 24 h and 30 d, and for the /api/logs first page, plain and filtered): ${ok ? '**PASS**' : `**FAIL** (${failures.join('; ')})`}`,
    '',
    '### Method',
    '- Data: `scripts/seed.ts` generates realistic RequestRecords (7 models with their own latency and token profiles, half streamed with 3–10 captured chunks, ~5 % failures with 1–3 `error_logs` rows each, ~1.5 % client cancellations, ~3 % retried-then-succeeded requests, 5 client keys; request times spread over 35 days with a day/night and weekday rhythm, oldest first) and publishes them to the writer `startDatabaseLogging` builds — the proxy\'s own writer, batching and `afterInsert` rollup hook — with back-pressure so nothing spills to the spool. Afterwards it checks the row counts and that the hour rollups add up to the rows; on PostgreSQL it runs `VACUUM (ANALYZE)` (what autovacuum does after a million inserts). SQLite gets no `ANALYZE`, as a proxy\'s file never does.',
    '- `/api/usage` reads only `usage_rollups`, twice per answer (per-model totals, then the trend): 24 h → the hour rollups of 25 hours; 30 d → the totals from the day rollups of the whole UTC days in the window and hour rollups for partial days at its edges, the trend from the rollups of its bucket (`day`, the default for 30 d; `bucket=hour` is shown for comparison and is not a target). Day rollups came with migration 0004 (backfilled from the hour rows); see "Seeding and benchmarking" in docs/database.md.',
    '- `/api/logs` reads `request_logs` newest first with keyset pagination on (request_time, id) (indexes of migration 0003). `total=1` — what the `/logs` page asks for on its first page — is a count capped at 10,000 rows (`TOTAL_CAP` in src/db/logs-repo.ts; beyond it `total` is null), so it costs a few ms whatever the table holds.',
    '- No retention ran on the seeded data: minute rollups of all 35 days are there (the default keeps 7), so the tables hold more rows than a proxy with default settings would.',
    '- Percentiles are nearest-rank over the measured requests. On a shared 2-core machine the tails (p99, max) mostly show other processes and garbage collection, not the queries.',
    END,
  ].join('\n');
}

/** Replaces the section, or inserts it after the bench:writer section (or at the end). */
export function writeSection(doc: string, text: string): void {
  const existing = existsSync(doc) ? readFileSync(doc, 'utf8') : '# Benchmarks\n';
  const start = existing.indexOf(START);
  const end = existing.indexOf(END, Math.max(0, start));
  let out: string;
  if (start !== -1 && end !== -1) out = existing.slice(0, start) + text + existing.slice(end + END.length);
  else {
    const after = existing.indexOf(AFTER);
    if (after === -1) out = `${existing.trimEnd()}\n\n${text}\n`;
    else {
      const rest = existing.slice(after + AFTER.length).replace(/^\n*/, '');
      out = `${existing.slice(0, after + AFTER.length)}\n\n${text}\n${rest ? `\n${rest}` : ''}`;
    }
  }
  mkdirSync(dirname(doc), { recursive: true });
  writeFileSync(doc, out);
}
