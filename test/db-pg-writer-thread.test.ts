/**
 * The PostgreSQL writer thread (pg-worker.ts behind worker-store.ts): `startDatabaseLogging` writes
 * PostgreSQL rows from it (not from the main thread's pool), with the rollup hook; a thread that
 * dies mid-batch loses nothing (its batch is spooled, a new thread replays it, every row exactly
 * once); and records that cannot be encoded are set aside without failing their batch.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ROLLUP_HOOK, startDatabaseLogging } from '../src/db/logging.ts';
import type { DatabaseLogging } from '../src/db/logging.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { PG_WRITER_CONNECTIONS, createPgWorkerStore } from '../src/db/pg-store.ts';
import type { BatchStore } from '../src/db/store.ts';
import { createDbWriter } from '../src/db/writer.ts';
import type { RequestRecord } from '../src/logging/types.ts';
import { withPostgres } from './helpers/db.ts';
import type { TestDb } from './helpers/db.ts';
import { testLogger } from './helpers/proxy.ts';
import { chatRecord } from './helpers/records.ts';

const pgUrl = inject('pgUrl');
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

let seq = 0;
function record(over: Partial<RequestRecord> = {}): RequestRecord {
  const n = seq++;
  return chatRecord(
    n,
    { requestTime: new Date(Date.UTC(2026, 0, 7, 12, n % 3, 0, n)).toISOString(), model: n % 2 ? 'gpt-4o-mini' : 'claude-3-5-sonnet', ...over },
    '9000',
  );
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'yallmp-pgthread-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * An afterInsert hook that notes which thread ran it and with which rows, chains to the real rollup
 * hook, and — while `crashFile` exists — deletes it and ends its thread mid-transaction
 * (`process.exit` in a worker ends that thread only; on the main thread it would end the test).
 */
function probeHook(dir: string): { url: string; seen: string; crashFile: string } {
  const seen = join(dir, 'seen.jsonl');
  const crashFile = join(dir, 'crash-once');
  const file = join(dir, 'hook.mjs');
  const rollups = new URL('../src/db/rollup-hook.ts', import.meta.url).href;
  writeFileSync(
    file,
    `import { appendFileSync, existsSync, rmSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { afterInsert as rollups } from ${JSON.stringify(rollups)};
export async function afterInsert(db, dialect, rows) {
  appendFileSync(${JSON.stringify(seen)}, JSON.stringify({ mainThread: isMainThread, dialect, requests: rows.requests.length }) + '\\n');
  await rollups(db, dialect, rows);
  if (!isMainThread && existsSync(${JSON.stringify(crashFile)})) {
    rmSync(${JSON.stringify(crashFile)});
    process.exit(7);
  }
}
`,
  );
  return { url: pathToFileURL(file).href, seen, crashFile };
}

const seenLines = (file: string): { mainThread: boolean; dialect: string; requests: number }[] =>
  existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { mainThread: boolean; dialect: string; requests: number }) : [];

async function pgDb(): Promise<TestDb> {
  const t = await withPostgres(pgUrl);
  cleanups.push(() => t.close());
  return t;
}

const count = async (t: TestDb, table: 'request_logs' | 'error_logs'): Promise<number> =>
  Number((await t.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

const hourRequests = async (t: TestDb): Promise<number> =>
  Number(
    (await t.db.selectFrom('usage_rollups').where('granularity', '=', 'hour').select((eb) => eb.fn.sum<number>('request_count').as('n')).executeTakeFirstOrThrow()).n ?? 0,
  );

describe('PostgreSQL writer thread', () => {
  it('is what startDatabaseLogging writes PostgreSQL rows from, rollups included', async () => {
    const t = await pgDb();
    const dir = tempDir();
    const hook = probeHook(dir);
    const log = testLogger();
    const logging: DatabaseLogging = await startDatabaseLogging({
      config: { ...t.config, spoolDir: join(dir, 'spool'), batchMaxRows: 50, batchMaxMs: 10 },
      rootDir: dir,
      log,
      writer: { afterInsertModule: hook.url, retry: { minMs: 20, maxMs: 100 } },
    });
    cleanups.push(() => logging.close());
    const records = Array.from({ length: 120 }, (_, i) => record(i % 10 === 0 ? { errors: [{ time: '2026-01-07T12:00:01.000Z', type: 'http_error', message: 'boom', backend: 'b', httpStatus: 500, context: null }] } : {}));
    for (const r of records) logging.writer.publish(r);
    await until(() => logging.writer.stats.written === records.length, 'rows written');
    await logging.close();

    const seen = seenLines(hook.seen);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((s) => !s.mainThread && s.dialect === 'postgres')).toBe(true);
    expect(seen.reduce((n, s) => n + s.requests, 0)).toBe(records.length);
    expect(await count(t, 'request_logs')).toBe(records.length);
    expect(await count(t, 'error_logs')).toBe(12);
    expect(await hourRequests(t)).toBe(records.length);
    expect(logging.writer.stats).toMatchObject({ written: records.length, spooled: 0, dropped: 0, writeErrors: 0 });
    // Secrets are re-masked by the thread's encoder too.
    const headers = (await t.db.selectFrom('request_logs').select('headers').limit(1).executeTakeFirstOrThrow()).headers;
    expect(JSON.stringify(headers)).not.toContain('secret-value');
  });

  it('spools the batch of a thread that died mid-transaction and replays it from a new thread, exactly once', async () => {
    const t = await pgDb();
    const dir = tempDir();
    const hook = probeHook(dir);
    const spoolDir = join(dir, 'spool');
    const log = testLogger();
    const logging = await startDatabaseLogging({
      config: { ...t.config, spoolDir, batchMaxRows: 40, batchMaxMs: 10 },
      rootDir: dir,
      log,
      writer: { afterInsertModule: hook.url, retry: { minMs: 20, maxMs: 100 } },
    });
    cleanups.push(() => logging.close());
    const first = Array.from({ length: 10 }, () => record());
    for (const r of first) logging.writer.publish(r);
    await until(() => logging.writer.stats.written === first.length, 'first rows');

    // The next batch's thread dies after inserting its rows, before committing them.
    writeFileSync(hook.crashFile, '');
    const rest = Array.from({ length: 100 }, () => record());
    for (const r of rest) logging.writer.publish(r);
    const total = first.length + rest.length;
    await until(async () => !existsSync(hook.crashFile) && logging.writer.stats.written + logging.writer.stats.replayed === total, 'every row written or replayed');
    await until(() => readdirSync(spoolDir).filter((f) => f.endsWith('.jsonl')).length === 0, 'spool replayed and removed');
    await logging.close();

    const s = logging.writer.stats;
    expect(s.spooled).toBeGreaterThan(0);
    expect(s.replayed).toBe(s.spooled);
    expect(s).toMatchObject({ dropped: 0, queued: 0, dbUp: true });
    expect(s.writeErrors).toBeGreaterThan(0);
    expect(s.lastError).toMatch(/PostgreSQL writer thread exited \(code 7\)/);
    expect(log.lines.some((l) => l.startsWith('warn database log: write failed'))).toBe(true);
    const ids = (await t.db.selectFrom('request_logs').select('id').execute()).map((r) => String(r.id));
    expect(ids.sort()).toEqual([...first, ...rest].map((r) => r.id).sort());
    // The dead transaction left no rollups behind: each row is counted once.
    expect(await hourRequests(t)).toBe(total);
  });

  it('adjacent batches sharing ids neither wait on each other nor count a row twice', async () => {
    // Batch N+1 is inserted early (before its write) unless it shares ids with the batch being
    // written: then it must wait, or the two transactions would wait for each other.
    const t = await pgDb();
    const dir = tempDir();
    const logging = await startDatabaseLogging({
      config: { ...t.config, spoolDir: join(dir, 'spool'), batchMaxRows: 20, batchMaxMs: 5 },
      rootDir: dir,
      log: testLogger(),
      writer: { retry: { minMs: 20, maxMs: 100 } },
    });
    cleanups.push(() => logging.close());
    const a = Array.from({ length: 30 }, () => record());
    const b = Array.from({ length: 30 }, () => record());
    for (const r of [...a, ...a, ...b, ...a.slice(0, 10), ...b]) logging.writer.publish(r);
    await logging.close();
    expect(logging.writer.stats).toMatchObject({ written: 60, spooled: 0, dropped: 0, writeErrors: 0, queued: 0 });
    expect(await count(t, 'request_logs')).toBe(60);
    expect(await hourRequests(t)).toBe(60);
  });

  it('replays a leftover segment while the same records arrive live: each row and rollup once', async () => {
    const t = await pgDb();
    await migrateToLatest(t.db, 'postgres');
    const dir = tempDir();
    const spoolDir = join(dir, 'spool');
    const both = Array.from({ length: 60 }, () => record());
    const fresh = Array.from({ length: 60 }, () => record());
    mkdirSync(spoolDir, { recursive: true });
    writeFileSync(join(spoolDir, '0000000000001-1-000000.jsonl'), `${both.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const logging = await startDatabaseLogging({
      config: { ...t.config, spoolDir, batchMaxRows: 15, batchMaxMs: 5 },
      rootDir: dir,
      log: testLogger(),
      writer: { retry: { minMs: 20, maxMs: 100 } },
    });
    cleanups.push(() => logging.close());
    for (let i = 0; i < both.length; i++) {
      logging.writer.publish(both[i]!);
      logging.writer.publish(fresh[i]!);
    }
    await until(() => readdirSync(spoolDir).filter((f) => f.endsWith('.jsonl')).length === 0, 'segment replayed');
    await logging.close();
    const s = logging.writer.stats;
    expect(s).toMatchObject({ spooled: 0, dropped: 0, writeErrors: 0, queued: 0 });
    expect(s.written + s.replayed).toBe(120);
    expect(await count(t, 'request_logs')).toBe(120);
    expect(await hourRequests(t)).toBe(120);
  });

  it('sets aside a record the thread cannot encode and writes the rest of its batch', async () => {
    const t = await pgDb();
    await migrateToLatest(t.db, 'postgres');
    const dir = tempDir();
    const spoolDir = join(dir, 'spool');
    const log = testLogger();
    const w = createDbWriter({
      dialect: 'postgres',
      postgres: t.config.postgres,
      config: { batchMaxRows: 100, batchMaxMs: 10, queueMaxRows: 1000 },
      spoolDir,
      log,
      retry: { minMs: 20, maxMs: 100 },
    });
    const good = [record(), record()];
    const bad = record({ requestTime: 'not a time' });
    w.publish(good[0]!);
    w.publish(bad);
    w.publish(good[1]!);
    await w.close();
    expect(w.stats).toMatchObject({ written: 2, dropped: 1, spooled: 0 });
    const rejected = readFileSync(join(spoolDir, 'rejected', `${process.pid}.jsonl`), 'utf8').trim().split('\n');
    expect(rejected.map((l) => (JSON.parse(l) as RequestRecord).id)).toEqual([bad.id]);
    const ids = (await t.db.selectFrom('request_logs').select('id').execute()).map((r) => String(r.id));
    expect(ids.sort()).toEqual(good.map((r) => r.id).sort());
  });

  describe('early insert (the store on its own)', () => {
    async function store(): Promise<{ t: TestDb; s: BatchStore }> {
      const t = await pgDb();
      await migrateToLatest(t.db, 'postgres');
      const s = createPgWorkerStore({ postgres: t.config.postgres, connections: PG_WRITER_CONNECTIONS, afterInsertModule: ROLLUP_HOOK });
      cleanups.push(() => s.close());
      await s.probe();
      return { t, s };
    }
    const ids = async (t: TestDb): Promise<string[]> => (await t.db.selectFrom('request_logs').select('id').execute()).map((r) => String(r.id)).sort();
    const sorted = (rs: readonly RequestRecord[]): string[] => rs.map((r) => r.id).sort();
    /** What the writer hands a store: the records as JSON text. */
    const json = (rs: readonly RequestRecord[]): string[] => rs.map((r) => JSON.stringify(r));
    /** Until the thread has inserted (uncommitted) rows: other sessions see a lock on request_logs. */
    const inserting = (t: TestDb) =>
      until(async () => {
        const r = await sql<{ n: number }>`
          select count(*) as n from pg_locks l join pg_class c on c.oid = l.relation
          where l.database = (select oid from pg_database where datname = current_database())
            and c.relname = 'request_logs' and l.mode = 'RowExclusiveLock' and l.pid <> pg_backend_pid()`.execute(t.db);
        return Number(r.rows[0]!.n) > 0;
      }, 'an early insert');

    it('commits nothing before the write, and everything at the write', async () => {
      const { t, s } = await store();
      const batch = Array.from({ length: 25 }, () => record());
      const texts = json(batch);
      s.prestage!(texts);
      await inserting(t);
      expect(await ids(t)).toEqual([]);
      expect(await s.writeRecords!(texts, false)).toEqual({ inserted: 25, bad: [] });
      expect(await ids(t)).toEqual(sorted(batch));
      expect(await hourRequests(t)).toBe(25);
    });

    it('inserts a large batch in chunks while it arrives, and still commits only at the write', async () => {
      const { t, s } = await store();
      const batch = Array.from({ length: 1_300 }, (_, i) => record(i % 7 === 0 ? { errors: [{ time: '2026-01-07T12:00:01.000Z', type: 'http_error', message: 'boom', backend: 'b', httpStatus: 500, context: null }] } : {}));
      const texts = json(batch);
      s.prestage!(texts);
      await inserting(t);
      expect(await ids(t)).toEqual([]);
      expect(await s.writeRecords!(texts, false)).toEqual({ inserted: 1_300, bad: [] });
      expect(await ids(t)).toEqual(sorted(batch));
      expect(await count(t, 'error_logs')).toBe(186);
      expect(await hourRequests(t)).toBe(1_300);
    });

    it('rolls back an early insert whose batch is discarded', async () => {
      const { t, s } = await store();
      const spooled = json(Array.from({ length: 25 }, () => record()));
      s.prestage!(spooled);
      await inserting(t);
      s.discard!(spooled);
      const next = Array.from({ length: 5 }, () => record());
      expect((await s.writeRecords!(json(next), false)).inserted).toBe(5);
      expect(await ids(t)).toEqual(sorted(next));
      expect(await hourRequests(t)).toBe(5);
    });

    it('rolls back an early insert that holds ids another write needs, and redoes it after', async () => {
      const { t, s } = await store();
      const live = Array.from({ length: 20 }, () => record());
      const liveTexts = json(live);
      s.prestage!(liveTexts);
      await inserting(t);
      // A replay batch sharing ids with the open early insert: without the rollback it would
      // wait for a commit that only comes after it.
      const replay = [...live.slice(0, 5), record(), record()];
      expect(await s.writeRecords!(json(replay), true)).toEqual({ inserted: 7, bad: [] });
      expect((await s.writeRecords!(liveTexts, false)).inserted).toBe(15);
      expect(await ids(t)).toEqual(sorted([...live, ...replay.slice(5)]));
      expect(await hourRequests(t)).toBe(22);
    });
  });
});
