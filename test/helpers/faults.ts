/**
 * Shared pieces of the fault-injection suite (test/faults/): temp dirs and config files for a real
 * `src/main.ts` child, memory sampling of that child, row counting, metric parsing, polling.
 * Imports no vitest, so it can be used from scripts as well.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { stringify } from 'yaml';
import type { DatabaseConfig } from '../../src/config/types.ts';
import { createDatabase } from '../../src/db/factory.ts';
import { pgTestConfig } from './db.ts';
import type { MainProcess } from './main-process.ts';
import { startTcpRelay } from './tcp-relay.ts';

/** A fresh temp dir and its removal. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `yallmp-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** `dir/config_default.yaml` = `doc`, `dir/config_added.yaml` empty: what startMain(dir) reads. */
export function writeMainConfig(dir: string, doc: Record<string, unknown>): void {
  writeFileSync(join(dir, 'config_default.yaml'), stringify(doc));
  writeFileSync(join(dir, 'config_added.yaml'), stringify({ model_list: [] }));
}

/** Node flags that make a child answer `sampleMemory` (see mem-probe.ts). */
export const MEM_PROBE_ARGS: readonly string[] = ['--expose-gc', '--import', fileURLToPath(new URL('./mem-probe.ts', import.meta.url))];

export interface MemSample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  gc: boolean;
}

/** Asks a child started with MEM_PROBE_ARGS for its memory after two full GCs. */
export async function sampleMemory(main: MainProcess, timeoutMs = 10_000): Promise<MemSample> {
  const count = (): number => main.output().split('MEMPROBE ').length - 1;
  const before = count();
  main.child.kill('SIGUSR2');
  await until(() => count() > before, 'MEMPROBE line', timeoutMs);
  const last = main.output().split('MEMPROBE ').pop()!;
  return JSON.parse(last.slice(0, last.indexOf('\n'))) as MemSample;
}

const procStatus = (pid: number, field: 'VmRSS' | 'VmHWM'): number => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} for pid ${pid}`);
  return Number(m[1]) * 1024;
};

/** Resident set size of a process now (Linux /proc), in bytes. */
export const rssOf = (pid: number): number => procStatus(pid, 'VmRSS');
/** Peak resident set size since start or since the last resetPeakRss, in bytes. */
export const peakRssOf = (pid: number): number => procStatus(pid, 'VmHWM');
/** Resets the peak RSS counter (`echo 5 > /proc/pid/clear_refs`; own processes or root). */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

export const MB = 1024 * 1024;
export const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;

export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000, stepMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The value of an unlabelled Prometheus sample, or of the sum of a labelled family. */
export function metricValue(text: string, name: string): number {
  let total = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (m && m[1] === name) {
      total += Number(m[3]);
      seen = true;
    }
  }
  if (!seen) throw new Error(`metric ${name} not found`);
  return total;
}

/** Opens `config`'s database, runs `fn`, closes it. */
export async function withDb<T>(config: DatabaseConfig, fn: (db: ReturnType<typeof createDatabase>['db']) => Promise<T>): Promise<T> {
  const handle = createDatabase(config);
  try {
    return await fn(handle.db);
  } finally {
    await handle.close();
  }
}

export const countRequestLogs = (config: DatabaseConfig): Promise<number> =>
  withDb(config, async (db) => {
    const row = await db.selectFrom('request_logs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  });

/** Creates database `name` on the server of `admin` (a config pointing at any existing database). */
export const createPgDatabase = (admin: DatabaseConfig, name: string): Promise<void> =>
  withDb(admin, async (db) => void (await sql`create database ${sql.id(name)}`.execute(db)));

export const dropPgDatabase = (admin: DatabaseConfig, name: string): Promise<void> =>
  withDb(admin, async (db) => void (await sql`drop database if exists ${sql.id(name)} with (force)`.execute(db)));

/** The `n<i>` tag a chat request carries as its first message, read back from a row's body. */
export function tagOfBody(body: unknown): string | null {
  const parsed = typeof body === 'string' ? safeJson(body) : body;
  const content = (parsed as { messages?: { content?: unknown }[] } | null)?.messages?.[0]?.content;
  return typeof content === 'string' ? content : null;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** Throws (with the end of its output) if the proxy child has exited; for `until` conditions. */
export function alive(main: MainProcess): true {
  if (main.child.exitCode !== null || main.child.signalCode !== null) {
    throw new Error(`proxy process exited (code ${main.child.exitCode}, signal ${main.child.signalCode}):\n${main.output().slice(-3000)}`);
  }
  return true;
}

/**
 * A fresh PostgreSQL database on the server at `pgUrl` (dropped by the returned cleanup), reached
 * through a TCP relay the test can cut: `target` talks to it directly (for counting rows),
 * `connection` is the `database.connection.postgres` block that goes through the relay.
 */
export async function cuttablePgDatabase(pgUrl: string, cleanups: Array<() => unknown>) {
  const admin = pgTestConfig(pgUrl);
  const name = `yallmp_faults_${randomBytes(4).toString('hex')}`;
  await createPgDatabase(admin, name);
  cleanups.push(() => dropPgDatabase(admin, name));
  const target = pgTestConfig(pgUrl, name);
  const relay = await startTcpRelay({ host: target.postgres.host, port: target.postgres.port });
  cleanups.push(() => relay.close());
  const { database, user, password } = target.postgres;
  return { target, relay, connection: { host: relay.host, port: relay.port, database, user, password } };
}
