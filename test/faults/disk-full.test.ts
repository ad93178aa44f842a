/**
 * Fault 6: the request-log directory's disk is full (real src/main.ts, files + SQLite elsewhere).
 * As root, the log directory is a 1 MiB tmpfs filled to the last byte (unmounted afterwards);
 * otherwise it falls back to a log directory under a regular file, where every write fails
 * (ENOTDIR) — the same failure path without the space accounting.
 * Requests still succeed and get their rows; every failed record is counted on /metrics
 * (`yallmp_log_file_failures_total`); the failure is logged once, not once per request; when
 * space comes back, files are written again.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sqliteTestConfig } from '../helpers/db.ts';
import { startFakeUpstream } from '../helpers/fake-upstream.ts';
import { alive, countRequestLogs, metricValue, tempDir, until, writeMainConfig } from '../helpers/faults.ts';
import { startMain, type MainProcess } from '../helpers/main-process.ts';
import { startLoad } from './load.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Appends to `filler` until ENOSPC: 64 KiB pieces, then single bytes, so not a byte is left. */
function fill(filler: string): void {
  for (const piece of [Buffer.alloc(64 * 1024, 1), Buffer.alloc(1, 1)]) {
    for (;;) {
      try {
        writeFileSync(filler, piece, { flag: 'a' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
  }
}

/** Mounts a 1 MiB tmpfs at `dir` and fills it; null when not permitted (not root, no CAP_SYS_ADMIN). */
function fullTmpfs(dir: string): { free(): void; release(bytes: number): void; refill(): void; unmount(): void } | null {
  if (process.getuid?.() !== 0) return null;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,nr_inodes=4096', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const filler = join(dir, 'filler');
  fill(filler);
  return {
    free: () => rmSync(filler),
    release: (bytes: number) => truncateSync(filler, Math.max(0, statSync(filler).size - bytes)),
    refill: () => fill(filler),
    unmount: () => execFileSync('umount', ['-l', dir], { stdio: 'ignore' }),
  };
}

interface Rig {
  main: MainProcess;
  dir: string;
  logDir: string;
  dbFile: string;
  tmpfs: ReturnType<typeof fullTmpfs>;
  /** Fallback only: makes the log directory writable (true) or not (false). */
  setWritable(ok: boolean): void;
  metrics(): Promise<string>;
}

async function rig(): Promise<Rig> {
  const up = await startFakeUpstream({ record: false });
  cleanups.push(() => up.close());
  const { dir, remove } = tempDir('diskfull');
  cleanups.push(remove);
  const mountPoint = join(dir, 'mnt');
  mkdirSync(mountPoint);
  const tmpfs = fullTmpfs(mountPoint);
  if (tmpfs) cleanups.push(() => tmpfs.unmount());
  // Fallback: a regular file where a directory should be.
  const blocker = join(mountPoint, 'requests');
  const setWritable = (ok: boolean): void => {
    rmSync(blocker, { recursive: true, force: true });
    if (!ok) writeFileSync(blocker, 'not a directory');
  };
  if (!tmpfs) setWritable(false);
  const logDir = tmpfs ? mountPoint : join(blocker, 'logs');
  const dbFile = join(dir, 'yaLLM.db');
  writeMainConfig(dir, {
    model_list: [{ model_name: 'm', model_params: { api_base: up.base('m'), api_key: 'sk-x' } }],
    proxy_settings: { server: { host: '127.0.0.1', port: 0 }, logging: { dir: logDir } },
    database: { backend: 'sqlite', connection: { sqlite: { path: dbFile } }, spool_dir: join(dir, 'spool') },
  });
  const main = await startMain(dir);
  cleanups.push(() => main.child.exitCode === null && main.child.kill('SIGKILL'));
  return { main, dir, logDir, dbFile, tmpfs, setWritable, metrics: async () => (await fetch(`${main.url}/metrics`)).text() };
}

describe('fault: disk full for the log directory', () => {
  it('requests succeed with their rows, failures are counted on /metrics and logged once, writes resume when space returns', async () => {
    const { main, dbFile, tmpfs, logDir, metrics } = await rig();
    const mountPoint = logDir;

    const load = startLoad({ url: main.url, concurrency: 4, total: 100, mixStreams: true });
    await load.finished;
    expect(load.outcomes.filter((o) => o.status !== 200 || o.error !== null)).toEqual([]);
    expect(load.outcomes).toHaveLength(100);
    await until(async () => alive(main) && metricValue(await metrics(), 'yallmp_log_file_failures_total') === 100, '100 file failures on /metrics', 20_000, 100);
    await until(async () => (await countRequestLogs(sqliteTestConfig(dbFile))) === 100, '100 rows', 20_000, 100);
    const m = await metrics();
    expect(metricValue(m, 'yallmp_log_file_failures_total')).toBe(100);
    expect(metricValue(m, 'yallmp_log_queue_depth')).toBe(0);
    const warnings = main.output().split('\n').filter((l) => l.includes('request log files'));
    console.log(`[faults/disk-full] ${tmpfs ? 'tmpfs 1 MiB, full' : 'ENOTDIR fallback'}: 100 requests, failures ${metricValue(m, 'yallmp_log_file_failures_total')}, log lines ${warnings.length}: ${warnings[0] ?? ''}`);
    // Once per interval, not per request: the whole run is far shorter than any sensible interval.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(tmpfs ? /ENOSPC/ : /ENOTDIR|EEXIST/);

    if (tmpfs) {
      // Space comes back: the next records are written again, the counter stays where it was.
      tmpfs.free();
      const after = startLoad({ url: main.url, concurrency: 2, total: 10, tagPrefix: 'after' });
      await after.finished;
      expect(after.outcomes.map((o) => o.status)).toEqual(Array(10).fill(200));
      // Each of the 10 has its non-empty .json and .log (the failed ones may have left empty files).
      const written = (): number =>
        after.outcomes.filter((o) =>
          ['.json', '.log'].every((ext) =>
            readdirSync(mountPoint).some((f) => f.includes(`-${o.id!.slice(0, 8)}_`) && f.endsWith(ext) && statSync(join(mountPoint, f)).size > 0),
          ),
        ).length;
      await until(() => written() === 10, 'files written again', 20_000, 100);
      expect(metricValue(await metrics(), 'yallmp_log_file_failures_total')).toBe(100);
      await until(async () => (await countRequestLogs(sqliteTestConfig(dbFile))) === 110, '110 rows', 20_000, 100);
    }
    main.child.kill('SIGTERM');
    expect(await main.exited, main.output()).toBe(0);
  }, 90_000);

  it('space that comes and goes (a write fits between failures) is still logged once, not once per failing run', async () => {
    const r = await rig();
    const m = await r.metrics();
    const failures = async (): Promise<number> => metricValue(await r.metrics(), 'yallmp_log_file_failures_total');
    expect(metricValue(m, 'yallmp_log_file_failures_total')).toBe(0);
    const one = async (tag: string): Promise<string> => {
      const load = startLoad({ url: r.main.url, concurrency: 1, total: 1, tagPrefix: tag });
      await load.finished;
      expect(load.outcomes.map((o) => o.status)).toEqual([200]);
      return load.outcomes[0]!.id!;
    };
    const hasFiles = (id: string): boolean =>
      ['.json', '.log'].every((ext) => readdirSync(r.logDir).some((f) => f.includes(`-${id.slice(0, 8)}_`) && f.endsWith(ext) && statSync(join(r.logDir, f)).size > 0));
    // 5 cycles: one record fails (disk full), then one fits (64 KiB freed), then full again.
    for (let i = 0; i < 5; i++) {
      await one(`fail${i}-`);
      await until(async () => alive(r.main) && (await failures()) === i + 1, `failure ${i + 1} counted`, 20_000, 25);
      if (r.tmpfs) r.tmpfs.release(64 * 1024);
      else r.setWritable(true);
      const id = await one(`ok${i}-`);
      await until(() => hasFiles(id), `record ${i} written`, 20_000, 25);
      if (r.tmpfs) r.tmpfs.refill();
      else r.setWritable(false);
    }
    expect(await failures()).toBe(5);
    await until(async () => (await countRequestLogs(sqliteTestConfig(r.dbFile))) === 10, '10 rows', 20_000, 100);
    const warnings = r.main.output().split('\n').filter((l) => l.includes('request log files'));
    console.log(`[faults/disk-full] flapping: 5 failing runs in ${warnings.length} log line(s)`);
    // The whole test takes a few seconds: one interval, one line.
    expect(warnings).toHaveLength(1);
    r.main.child.kill('SIGTERM');
    expect(await r.main.exited, r.main.output()).toBe(0);
  }, 90_000);
});
