/**
 * Worker thread that owns the writer's SQLite connection. better-sqlite3 is synchronous, so a
 * commit (and a WAL checkpoint's fsync, or up to busy_timeout spent waiting for a lock) would stall
 * the event loop if it ran on the main thread. The main thread sends the finished records as JSON
 * text (serialised once, shared with the file sink); this thread scrubs and encodes them into rows (the
 * writer's largest CPU cost, about 20-30 µs a record) and inserts them. Encoded rows (arrays of
 * values in `REQUEST_INSERT_COLUMNS` / `ERROR_INSERT_COLUMNS` order) are accepted too.
 *
 * Single-row prepared statements run in one transaction per batch: without a network round trip
 * they were faster than multi-row VALUES lists (about 24k vs 20k rows/s of realistic rows on the
 * 2-core development machine).
 */
import { Worker, parentPort, workerData } from 'node:worker_threads';
import { Kysely, SqliteDialect } from 'kysely';
import type { SqliteDatabase as SqliteDialectDatabase } from 'kysely';
import { ERROR_INSERT_COLUMNS, REQUEST_INSERT_COLUMNS, loadAfterInsert } from './batch.ts';
import type { AfterInsert } from './batch.ts';
import { openSqliteRaw, resolveSqlitePath } from './factory.ts';
import { StagedBatches, stageChunks, type BadRecord, type WorkerReply, type WorkerRequest } from './worker-store.ts';
import type { SqliteConnection } from './factory.ts';
import { encodeRecordValues } from './rows.ts';
import type { Database } from './schema.ts';
import { createHeaderSanitizer } from '../logging/sanitize.ts';

export interface SqliteWorkerData {
  readonly file: string;
  /** Overrides the factory's busy_timeout: how long a write waits for another writer's lock. */
  readonly busyTimeoutMs?: number;
  readonly afterInsertModule?: string;
  /** Extra header names to mask when encoding records (on top of the built-in list). */
  readonly redactHeaders?: readonly string[];
}

/*
 * Rows and records are staged per batch number and committed by `write` for that batch, so the
 * next batch can be handed over (and encoded here) while the current one commits, and a replay
 * batch never mixes with a live one. `discard` drops a batch that went to the spool instead. The
 * messages are worker-store.ts's protocol, shared with the PostgreSQL thread.
 */

interface Open {
  readonly conn: SqliteConnection;
  readonly insertRequest: ReturnType<SqliteConnection['prepare']>;
  readonly insertError: ReturnType<SqliteConnection['prepare']>;
  readonly kysely: Kysely<Database>;
}

const data = workerData as SqliteWorkerData;
const sanitize = createHeaderSanitizer(data.redactHeaders ?? []);
let open: Open | null = null;
let hook: Promise<AfterInsert | undefined> | null = null;

function insertSql(table: string, columns: readonly string[]): string {
  const names = columns.map((c) => `"${c}"`).join(', ');
  const marks = columns.map(() => '?').join(', ');
  return `insert into "${table}" (${names}) values (${marks}) on conflict ("id") do nothing`;
}

function connection(): Open {
  if (open) return open;
  const conn = openSqliteRaw(data.file);
  try {
    if (data.busyTimeoutMs !== undefined) conn.pragma(`busy_timeout = ${Math.max(0, Math.floor(data.busyTimeoutMs))}`);
    conn.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    startCheckpointer();
    open = {
      conn,
      insertRequest: conn.prepare(insertSql('request_logs', REQUEST_INSERT_COLUMNS)),
      insertError: conn.prepare(insertSql('error_logs', ERROR_INSERT_COLUMNS)),
      // Only for the afterInsert hook, on this same connection and inside our transaction.
      kysely: new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(conn) }) }),
    };
    return open;
  } catch (err) {
    conn.close();
    throw err;
  }
}

/** Distinct hook statements kept prepared (the rollup upsert is one or a few). */
const HOOK_STATEMENTS = 32;

/**
 * Kysely prepares every query it runs; compiling the rollup upsert (some 40 columns) for every
 * batch cost more than running it. The hook's statements are the same few texts each time, so
 * they stay prepared here (least recently used dropped first).
 */
function withStatementCache(conn: SqliteConnection): SqliteDialectDatabase {
  const cache = new Map<string, ReturnType<SqliteConnection['prepare']>>();
  return {
    close: () => conn.close(),
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (stmt) cache.delete(sql);
      else stmt = conn.prepare(sql);
      cache.set(sql, stmt);
      if (cache.size > HOOK_STATEMENTS) cache.delete(cache.keys().next().value!);
      return stmt;
    },
  };
}

/** Inserts and returns the positions of the rows that were new (duplicates are skipped). */
function insertRows(stmt: Open['insertRequest'], rows: readonly unknown[][]): number[] {
  const fresh: number[] = [];
  for (let i = 0; i < rows.length; i++) if (stmt.run(rows[i]!).changes > 0) fresh.push(i);
  return fresh;
}

function asObjects(columns: readonly string[], rows: readonly unknown[][], at: readonly number[]): Record<string, unknown>[] {
  // A plain loop: Object.fromEntries over pairs cost about 4 µs a row, as much as the rollups.
  return at.map((i) => {
    const row = rows[i]!;
    const out: Record<string, unknown> = {};
    for (let k = 0; k < columns.length; k++) out[columns[k]!] = row[k];
    return out;
  });
}

/**
 * WAL checkpoints copy every page a second time and fsync; they were as much of a batch's cost as
 * the inserts. Another thread does them (sqlite-checkpointer.mjs) while this one commits. SQLite's
 * own checkpoint at WAL_AUTOCHECKPOINT_PAGES stays as the bound if that thread falls behind or
 * dies; with it keeping up, the one here finds little left to copy.
 */
const WAL_AUTOCHECKPOINT_PAGES = 10_000;
const CHECKPOINTER_URL = new URL('./sqlite-checkpointer.mjs', import.meta.url);
let checkpointer: Worker | null = null;

function startCheckpointer(): void {
  if (checkpointer) return;
  // Plain JavaScript with a small heap: it holds one connection and a timer.
  const w = new Worker(CHECKPOINTER_URL, {
    workerData: { file: resolveSqlitePath(data.file) },
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
  });
  // Its failure costs only the offloading (the bound above still holds): started again on the next open.
  w.on('error', () => undefined);
  w.on('exit', () => {
    if (checkpointer === w) checkpointer = null;
  });
  w.unref();
  checkpointer = w;
}

async function stopCheckpointer(): Promise<void> {
  const w = checkpointer;
  checkpointer = null;
  if (!w) return;
  w.postMessage({ op: 'close' });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => void w.terminate().finally(resolve), 2_000);
    w.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function insertBatch(requests: unknown[][], errors: unknown[][]): Promise<number> {
  const o = connection();
  const afterInsert = await (hook ??= loadAfterInsert(data.afterInsertModule).catch((err: unknown) => {
    hook = null;
    throw err;
  }));
  if (!afterInsert) {
    // IMMEDIATE takes the write lock up front, so a busy database fails here, not mid-batch.
    return o.conn.transaction(() => {
      const fresh = insertRows(o.insertRequest, requests);
      insertRows(o.insertError, errors);
      return fresh.length;
    }).immediate();
  }
  o.conn.exec('begin immediate');
  try {
    const freshRequests = insertRows(o.insertRequest, requests);
    const freshErrors = insertRows(o.insertError, errors);
    await afterInsert(o.kysely, 'sqlite', {
      requests: asObjects(REQUEST_INSERT_COLUMNS, requests, freshRequests),
      errors: asObjects(ERROR_INSERT_COLUMNS, errors, freshErrors),
    });
    o.conn.exec('commit');
    return freshRequests.length;
  } catch (err) {
    if (o.conn.inTransaction) o.conn.exec('rollback');
    throw err;
  }
}

function probe(): void {
  const { conn } = connection();
  conn.prepare('select 1 from request_logs where 0').all();
  conn.prepare('select 1 from error_logs where 0').all();
  // A writer holding the lock makes this wait busy_timeout and then fail, like a real batch would.
  conn.exec('begin immediate');
  conn.exec('rollback');
}

function reset(): void {
  try {
    open?.conn.close();
  } catch {
    // Already broken; a fresh connection is opened on the next request.
  }
  open = null;
}

interface Staged {
  requests: unknown[][];
  errors: unknown[][];
  /** Records staged so far (the next record's index) and those that could not be encoded. */
  records: number;
  bad: BadRecord[];
}

const INSERT_COLUMNS = { requests: REQUEST_INSERT_COLUMNS, errors: ERROR_INSERT_COLUMNS } as const;
const emptyStage = (): Staged => ({ requests: [], errors: [], records: 0, bad: [] });
const stages = new StagedBatches<Staged>(emptyStage);


/** Encodes records as they arrive (while the main thread posts the next ones) into staged rows. */
function stageRecords(staged: Staged, chunks: readonly string[]): void {
  stageChunks(staged, chunks, sanitize, (recordRows) => {
    const rows = encodeRecordValues('sqlite', recordRows, INSERT_COLUMNS);
    for (const r of rows.requests) staged.requests.push(r);
    for (const r of rows.errors) staged.errors.push(r);
  });
}

async function handle(msg: Extract<WorkerRequest, { id: number }>): Promise<WorkerReply> {
  const batch = msg.op === 'write' ? stages.take(msg.batch) : emptyStage();
  try {
    if (msg.op === 'write') {
      // All or nothing (a spool replay bisects down to the bad record); the connection is fine.
      if (msg.strict && batch.bad.length) return { id: msg.id, ok: false, message: batch.bad[0]!.message, code: null };
      return { id: msg.id, ok: true, inserted: await insertBatch(batch.requests, batch.errors), bad: batch.bad };
    }
    if (msg.op === 'probe') probe();
    else {
      reset();
      await stopCheckpointer();
    }
    return { id: msg.id, ok: true, inserted: 0 };
  } catch (err) {
    const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : null;
    // Busy and constraint errors leave the connection sound; anything else (I/O, a deleted or
    // replaced file) gets a fresh connection next time.
    if (!code || !/^SQLITE_(BUSY|CONSTRAINT)/.test(code)) reset();
    return { id: msg.id, ok: false, message: err instanceof Error ? err.message : String(err), code };
  }
}

// Requests are handled strictly one after another: an async hook must not interleave batches.
let chain: Promise<unknown> = Promise.resolve();
parentPort?.on('message', (msg: WorkerRequest) => {
  chain = chain.then(async () => {
    if (msg.op === 'rows') {
      const staged = stages.of(msg.batch);
      for (const row of msg.requests) staged.requests.push(row);
      for (const row of msg.errors) staged.errors.push(row);
    } else if (msg.op === 'records') stageRecords(stages.of(msg.batch), msg.records);
    else if (msg.op === 'discard') stages.delete(msg.batch);
    else parentPort?.postMessage(await handle(msg));
  });
});
