/**
 * Proxy benchmark (not a test), issue 6: yaLLMproxy against the fake upstream called directly,
 * a bare Hono + undici pass-through and the Portkey AI gateway, in one run, over four scenarios
 * (non-streaming at 32/256 connections, streaming TTFB and inter-event delay, 1,000 slow streams
 * held open, 200 KB prompts). Prints the tables and rewrites the `bench:proxy` section of
 * docs/benchmarks.md.
 *
 *   npm run bench [-- --quick] [--rounds N] [--scenarios chat,stream,hold,large] [--contenders LIST]
 *                 [--rows ID,ID] [--duration S] [--warmup S] [--pg-url URL] [--cpu-prof] [--no-write]
 *
 * Layout: the fake upstream and each server under test run in their own child processes
 * (scripts/bench/*.ts), the load generators run here — so the load generator never shares an
 * event loop with the server it measures, and the upstream never shares one with the proxy.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stopCurrentLoad } from './bench/load.ts';
import { ensurePeer, PEER_PACKAGE, PEER_VERSION, type PeerInstall } from './bench/peer.ts';
import { DEFAULT_PG_URL } from './bench/pg.ts';
import { allRows, CONTENDER_IDS, GROUPS, selectRows, type ContenderId, type Group, type Row } from './bench/plan.ts';
import { startChild, stopAllChildren } from './bench/processes.ts';
import { section, tables, targetsTable, writeSection, type RunMeta } from './bench/report.ts';
import { combineRounds, type RowResult } from './bench/results.ts';
import { BODIES, emptyRow, runRow, type RunOptions } from './bench/runners.ts';
import type { TargetEnv } from './bench/targets.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface Options {
  durationS: number;
  warmupS: number;
  rounds: number;
  groups: Group[];
  contenders: ContenderId[];
  rows: string[] | null;
  streamConcurrency: number;
  holdStreams: number;
  holdWaitS: number;
  pgUrl: string;
  cpuProf: boolean;
  write: boolean;
  out: string;
}

const USAGE = `usage: npm run bench -- [options]
  --quick              1 s warm-up + 3 s per row, 200 held streams: for a quick look
  --duration S         measured seconds per row (default 10; --quick: 3)
  --warmup S           discarded warm-up seconds per row (default 8; --quick: 1). Long enough for V8 to
                       finish optimising: a logging proxy warms three isolates (main, files, SQLite)
  --rounds N           run every row N times, interleaved, and report each row's median (default 1)
  --scenarios LIST     scenario groups: ${GROUPS.join(', ')} (default all)
  --contenders LIST    ${CONTENDER_IDS.join(', ')} (default all)
  --rows LIST          only these rows (scenario/contender) or scenarios, e.g. chat32/proxy,stream
  --stream-concurrency N   concurrent streams in the streaming scenario (default 32)
  --hold-streams N     streams held open in the hold scenario (default 1000; --quick: 200)
  --hold-wait S        how long to wait for all held streams to start (default 15)
  --pg-url URL         PostgreSQL server for the files + PostgreSQL rows (default ${DEFAULT_PG_URL})
  --cpu-prof           .cpuprofile of each server child under .bench/profiles/<time>/<row>/
  --no-write           print only; leave docs/benchmarks.md alone
  --out PATH           markdown file to update (default docs/benchmarks.md)
`;

function list<T extends string>(name: string, raw: string | undefined, known: readonly T[]): T[] {
  if (raw === undefined) return [...known];
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const i of items) if (!(known as readonly string[]).includes(i)) throw new Error(`--${name}: unknown ${i} (known: ${known.join(', ')})`);
  return items as T[];
}

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string', default: '1' },
      quick: { type: 'boolean', default: false },
      scenarios: { type: 'string' },
      contenders: { type: 'string' },
      rows: { type: 'string' },
      'stream-concurrency': { type: 'string', default: '32' },
      'hold-streams': { type: 'string' },
      'hold-wait': { type: 'string', default: '15' },
      'pg-url': { type: 'string', default: DEFAULT_PG_URL },
      'cpu-prof': { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      out: { type: 'string', default: 'docs/benchmarks.md' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return null;
  }
  const num = (name: string, raw: string, min: number): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const known = allRows();
  const rows = values.rows === undefined ? null : values.rows.split(',').map((s) => s.trim()).filter(Boolean);
  for (const id of rows ?? []) {
    if (!known.some((r) => r.id === id || r.scenario.id === id)) throw new Error(`--rows: unknown row ${id} (known: ${known.map((r) => r.id).join(', ')})`);
  }
  return {
    durationS: num('duration', values.duration ?? (values.quick ? '3' : '10'), 1),
    warmupS: num('warmup', values.warmup ?? (values.quick ? '1' : '8'), 0),
    rounds: Math.floor(num('rounds', values.rounds, 1)),
    groups: list('scenarios', values.scenarios, GROUPS),
    contenders: list('contenders', values.contenders, CONTENDER_IDS),
    rows,
    streamConcurrency: Math.floor(num('stream-concurrency', values['stream-concurrency'], 1)),
    holdStreams: Math.floor(num('hold-streams', values['hold-streams'] ?? (values.quick ? '200' : '1000'), 1)),
    holdWaitS: num('hold-wait', values['hold-wait'], 1),
    pgUrl: values['pg-url'],
    cpuProf: values['cpu-prof'],
    write: !values['no-write'],
    out: resolve(ROOT, values.out),
  };
}

let interrupted = false;

function progress(msg: string): void {
  // stderr, so stdout carries only the result tables.
  process.stderr.write(`[bench] ${msg}\n`);
}

function commandLine(argv: readonly string[]): string {
  const args = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  return `npm run bench${args ? ` -- ${args}` : ''}`;
}

function postgresVersion(url: string): string {
  try {
    return execFileSync('psql', [url.replace(/\/?$/, '/postgres'), '-Atc', 'show server_version'], { encoding: 'utf8', timeout: 5_000 }).trim();
  } catch {
    return 'unknown (psql not available or server not reachable)';
  }
}

async function preparePeer(rows: readonly Row[]): Promise<{ install: PeerInstall | null; error: string | null }> {
  if (!rows.some((r) => r.contender.kind === 'peer')) return { install: null, error: 'not selected' };
  try {
    return { install: await ensurePeer(ROOT, progress), error: null };
  } catch (err) {
    const error = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'install failed';
    progress(`peer unavailable, its rows are skipped: ${error}`);
    return { install: null, error };
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const opts = parseOptions(argv);
  if (opts === null) return 0;
  const rows = selectRows({ groups: opts.groups, contenders: opts.contenders, rows: opts.rows });
  if (rows.length === 0) throw new Error('no rows selected');

  process.once('SIGINT', () => {
    progress('SIGINT: stopping (again to force)');
    interrupted = true;
    stopCurrentLoad();
    process.once('SIGINT', () => {
      void stopAllChildren().finally(() => process.exit(130));
    });
  });

  let profileDir: string | null = null;
  if (opts.cpuProf) {
    profileDir = join(ROOT, '.bench', 'profiles', new Date().toISOString().replace(/[:.]/g, '-'));
    mkdirSync(profileDir, { recursive: true });
  }

  const date = new Date().toISOString();
  const loadBefore = loadavg()[0] ?? 0;
  const peer = await preparePeer(rows);
  const rounds = new Map<string, RowResult[]>(rows.map((r) => [r.id, []]));
  const runOpts: RunOptions = {
    durationS: opts.durationS,
    warmupS: opts.warmupS,
    streamConcurrency: opts.streamConcurrency,
    holdStreams: opts.holdStreams,
    holdWaitS: opts.holdWaitS,
    isInterrupted: () => interrupted,
    progress,
  };
  // Every proxy child writes its logs (and SQLite database) under this one directory, deleted
  // once at the end of the run rather than after each row: ext4 without a journal (this VM's
  // root) skips each inode freed in the last 1-6 minutes one by one when creating files
  // (fs/ext4/ialloc.c, find_inode_bit / recently_deleted), so deleting a
  // row's ~100,000 request-log files charged the next rows several times the kernel time per
  // file for minutes (measured: 33 µs of system time per .json/.log pair on a quiet file system,
  // 160-1,000 µs right after a mass delete).
  const workDir = mkdtempSync(join(tmpdir(), 'yallmp-bench-run-'));
  try {
    progress('starting fake upstream');
    const upstream = await startChild({ name: 'fake upstream', script: 'scripts/bench/upstream.ts', args: [], cwd: ROOT });
    const env: TargetEnv = { root: ROOT, upstreamOrigin: upstream.url, peer: peer.install, peerError: peer.error, pgServer: opts.pgUrl, profileDir, workDir };
    // Interleaved (every row, then every row again) so a burst of outside load hits all rows
    // alike instead of skewing one of them; every other round runs backwards so no row always
    // runs right after the same neighbour.
    for (let round = 1; round <= opts.rounds && !interrupted; round++) {
      if (opts.rounds > 1) progress(`round ${round}/${opts.rounds}`);
      for (const row of round % 2 === 1 ? rows : [...rows].reverse()) {
        if (interrupted) break;
        const result = await runRow(row, env, runOpts);
        const upstreamDead = upstream.exited();
        if (upstreamDead !== null) result.problems.push(`fake upstream ended during the run (${upstreamDead})`);
        rounds.get(row.id)!.push(result);
      }
    }
  } finally {
    await stopAllChildren();
    progress(`deleting the run's log files (${workDir})`);
    rmSync(workDir, { recursive: true, force: true });
  }
  if (interrupted) {
    progress('interrupted; results are incomplete and were not written');
    return 130;
  }

  const results = rows.map((r) => {
    const rs = rounds.get(r.id)!;
    return rs.length ? combineRounds(rs) : emptyRow(r, 'not run');
  });
  const loads = results.map((r) => r.load);
  const cpuList = cpus();
  const meta: RunMeta = {
    date,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown CPU',
    cpuCount: cpuList.length,
    memGiB: totalmem() / 1024 ** 3,
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    command: commandLine(argv),
    warmupS: opts.warmupS,
    durationS: opts.durationS,
    rounds: opts.rounds,
    loadBefore,
    loadAfter: loadavg()[0] ?? 0,
    loadMin: Math.min(...loads),
    loadMax: Math.max(...loads),
    peer: peer.install
      ? `${PEER_PACKAGE}@${peer.install.version} (@hono/node-server ${peer.install.nodeServer})`
      : `${PEER_PACKAGE}@${PEER_VERSION} not run (${peer.error ?? 'not selected'})`,
    postgres: rows.some((r) => r.contender.sink === 'postgres') ? postgresVersion(opts.pgUrl) : 'not used',
    largeBodyBytes: Buffer.byteLength(BODIES.large),
    smallBodyBytes: Buffer.byteLength(BODIES.small),
    streamConcurrency: opts.streamConcurrency,
    holdStreams: opts.holdStreams,
    holdWaitS: opts.holdWaitS,
  };

  process.stdout.write(`\n${targetsTable(results)}\n\n${tables(results)}\n\n`);
  if (profileDir !== null) process.stdout.write(`CPU profiles: ${profileDir}\n`);
  if (opts.write) {
    writeSection(opts.out, section(meta, results));
    process.stdout.write(`wrote ${opts.out}\n`);
  }
  // A broken row means the run did not measure what it claims; missed targets are a result.
  // The peer is a guest: its failure is reported in the tables, not a failed benchmark.
  return results.some((r) => r.problems.length > 0 && r.row.contender.kind !== 'peer') ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await stopAllChildren();
    process.exitCode = 1;
  },
);
