/**
 * Worker thread that writes the log rows to PostgreSQL on a small pool of its own (the main
 * thread's pool stays for migrations and readers). The main thread sends the finished records as
 * JSON text (serialised once, shared with the file sink); this thread scrubs and encodes them into
 * rows (about 20-30 µs a record) and builds and sends the INSERTs, so neither the encoding nor the
 * statements' serialisation runs on the event loop. Encoded rows (arrays of values in
 * `REQUEST_INSERT_COLUMNS` / `ERROR_INSERT_COLUMNS` order) are accepted too. Protocol:
 * worker-store.ts.
 *
 * Records are encoded the moment they arrive, also while a batch commits (a commit is network
 * I/O here, not CPU). **Early insert**: once the next batch has 500 rows staged, its transaction
 * opens on a second connection and its rows are inserted 500 at a time while the rest of it still
 * arrives and the batch before it commits. Its `write` then only inserts the last rows, runs the
 * afterInsert hook and COMMITs; `discard` (the batch went to the spool) rolls it back. Nothing
 * commits before the main thread asks, so the writer's guarantees (a batch is committed when
 * `write` resolves, and spooled otherwise) are unchanged; what changes is that the server inserts
 * batch N+1 while batch N commits and the main thread turns around, instead of after. Two rules
 * keep the two open transactions from waiting on each other (which neither the server nor the
 * writer could resolve: the early one commits only after the other has finished):
 * - rows are inserted early only if none of their ids is in another batch that is waiting or
 *   being written (otherwise the rest of the batch waits for its write), and a write whose ids
 *   meet an open early insert rolls that one back first (it starts again after);
 * - the hook (usage_rollups upserts, which touch the same rows in every batch) runs only at
 *   `write`, when the batch before it has finished: rollup rows are never locked by an
 *   uncommitted early insert.
 *
 * Requests that get a reply (write, probe, close) are not queued behind each other: the main
 * thread sends one at a time (its lane), and a write stuck on a dead connection must not keep a
 * later probe from reaching the server on another connection once the lane gave up on it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { DatabaseConfig } from '../config/types.ts';
import { ERROR_INSERT_COLUMNS, REQUEST_INSERT_COLUMNS, insertBatch, insertRows, loadAfterInsert } from './batch.ts';
import type { AfterInsert, InsertBatchOptions } from './batch.ts';
import { createDatabase } from './factory.ts';
import type { DatabaseHandle } from './factory.ts';
import { encodeRecordRows } from './rows.ts';
import type { Database } from './schema.ts';
import { StagedBatches, stageChunks, type BadRecord, type WorkerReply, type WorkerRequest } from './worker-store.ts';
import { createHeaderSanitizer } from '../logging/sanitize.ts';

export interface PgWorkerData {
  /** Connection settings (host, port, database, user, password), as the main pool uses them. */
  readonly postgres: DatabaseConfig['postgres'];
  /** Connections this thread may open (a write, an early insert, and one for a probe). */
  readonly connections: number;
  readonly afterInsertModule?: string;
  /** Extra header names to mask when encoding records (on top of the built-in list). */
  readonly redactHeaders?: readonly string[];
  /** Insert a batch's rows before its write, in a transaction left open until then (default true). */
  readonly earlyInsert?: boolean;
}

/**
 * Up to 500 rows per INSERT (five times the in-process writer's 100): building a statement blocks
 * no event loop here, and every statement saved is a round trip saved (25 columns × 500 rows stays
 * far below the 65535 parameters).
 */
const INSERT: InsertBatchOptions = { maxRowsPerStatement: 500 };

const data = workerData as PgWorkerData;

const sanitize = createHeaderSanitizer(data.redactHeaders ?? []);
const earlyInsert = data.earlyInsert ?? true;
let handle: DatabaseHandle | null = null;
let hook: Promise<AfterInsert | undefined> | null = null;

/** Only the connection settings and the pool size matter to the factory here. */
const config = (): DatabaseConfig => ({
  enabled: true,
  backend: 'postgres',
  autoMigrate: false,
  sqlite: { path: ':memory:' },
  postgres: data.postgres,
  poolSize: Math.max(1, data.connections),
  maxOverflow: 0,
  batchMaxRows: 500,
  batchMaxMs: 50,
  queueMaxRows: 0,
  spoolDir: '',
  retention: { rawDays: 0, minuteRollupDays: 0, hourRollupDays: 0, intervalMs: 0 },
});

/**
 * pg-pool drops a connection that failed, so one pool serves across outages; the idle-error
 * listener only keeps such an error from being unhandled (the query in flight fails on its own and
 * is reported to the main thread).
 */
const db = (): Kysely<Database> => (handle ??= createDatabase(config(), { onPoolError: () => undefined })).db;

const loadHook = (): Promise<AfterInsert | undefined> =>
  // Loaded on first use and retried after a failure, like any other write-path error.
  (hook ??= loadAfterInsert(data.afterInsertModule).catch((err: unknown) => {
    hook = null;
    throw err;
  }));

/** A batch's transaction, opened and inserted into before its write. */
interface Early {
  /** Commit (true) or roll back (false); called once. */
  decide(commit: boolean): void;
  /** More rows were staged (or the batch is complete): the transaction may insert them. */
  wake(): void;
  /** Settles when the transaction has ended: new request rows if committed. */
  readonly done: Promise<number>;
}

interface Staged {
  readonly requests: Record<string, unknown>[];
  readonly errors: Record<string, unknown>[];
  /** Request ids, for the lock rules above. */
  readonly ids: Set<string>;
  /** Records staged so far (the next record's index) and those that could not be encoded. */
  records: number;
  readonly bad: BadRecord[];
  /** Every record of the batch has arrived (an early insert may start). */
  complete: boolean;
  early: Early | null;
}

const emptyStage = (): Staged => ({ requests: [], errors: [], ids: new Set(), records: 0, bad: [], complete: false, early: null });
const stages = new StagedBatches<Staged>(emptyStage);
/** Ids of the batches being written now. */
const writing = new Set<Set<string>>();


function addRequest(staged: Staged, row: Record<string, unknown>): void {
  staged.requests.push(row);
  staged.ids.add(String(row.id));
}

/** Encodes records as they arrive (while the main thread posts the next ones) into staged rows. */
function stageRecords(staged: Staged, chunks: readonly string[]): void {
  stageChunks(staged, chunks, sanitize, (recordRows) => {
    const rows = encodeRecordRows('postgres', recordRows);
    for (const r of rows.requests) addRequest(staged, r);
    for (const r of rows.errors) staged.errors.push(r);
  });
}

function stageRows(staged: Staged, requests: readonly unknown[][], errors: readonly unknown[][]): void {
  const object = (columns: readonly string[], row: readonly unknown[]): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    for (let k = 0; k < columns.length; k++) o[columns[k]!] = row[k];
    return o;
  };
  for (const row of requests) addRequest(staged, object(REQUEST_INSERT_COLUMNS, row));
  for (const row of errors) staged.errors.push(object(ERROR_INSERT_COLUMNS, row));
}

const meets = (a: ReadonlySet<string>, b: ReadonlySet<string>): boolean => {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  for (const id of small) if (large.has(id)) return true;
  return false;
};

/** At most one early insert is open (not yet told to commit); another batch's write may roll it back. */
let open: Staged | null = null;

/** Rows an early insert sends at a time: a batch is inserted while its later records still arrive. */
const EARLY_CHUNK = 500;

const ready = (staged: Staged, from: number): boolean =>
  staged.requests.length - from >= EARLY_CHUNK || (staged.complete && staged.requests.length > from);

/** Whether request rows `from…` of `staged` share an id with a batch being written or waiting. */
function clashes(staged: Staged, from: number): boolean {
  const ids = new Set<string>();
  for (let i = from; i < staged.requests.length; i++) ids.add(String(staged.requests[i]!.id));
  for (const other of writing) if (meets(other, ids)) return true;
  for (const other of stages.values()) if (other !== staged && meets(other.ids, ids)) return true;
  return false;
}

/** Starts the early insert of a batch with enough rows staged, if the rules above allow one now. */
function kick(): void {
  if (!earlyInsert || open) return;
  for (const staged of stages.values()) if (!staged.early && ready(staged, 0) && startEarly(staged)) return;
}

function startEarly(staged: Staged): boolean {
  if (clashes(staged, 0)) return false;
  let decision: boolean | null = null;
  let signal: (() => void) | null = null;
  const wake = (): void => {
    const s = signal;
    signal = null;
    s?.();
  };
  const done = (async () => {
    const afterInsert = await loadHook();
    return db()
      .transaction()
      .execute(async (trx) => {
        // Rows handed to the transaction so far; records are staged whole (a request row with its
        // error rows), so the two counts always cut between records and every error row's
        // request row goes in first (the foreign key).
        let requests = 0;
        let errors = 0;
        let count = 0;
        // Once a chunk clashes, the rest waits for the write (when the other batch is done).
        let halted = false;
        const fresh: { requests: Record<string, unknown>[]; errors: Record<string, unknown>[] } = { requests: [], errors: [] };
        const insertStaged = async (): Promise<void> => {
          const to = staged.requests.length;
          const toErrors = staged.errors.length;
          if (to === requests && toErrors === errors) return;
          const rows = { requests: staged.requests.slice(requests, to), errors: staged.errors.slice(errors, toErrors) };
          requests = to;
          errors = toErrors;
          const inserted = await insertRows(trx, 'postgres', rows, afterInsert !== undefined, INSERT);
          count += inserted.count;
          if (inserted.fresh) {
            for (const r of inserted.fresh.requests) fresh.requests.push(r);
            for (const r of inserted.fresh.errors) fresh.errors.push(r);
          }
        };
        for (;;) {
          if (decision === false) throw ROLLED_BACK;
          if (decision === true) break;
          if (!halted && ready(staged, requests)) {
            if (clashes(staged, requests)) halted = true;
            else {
              await insertStaged();
              continue;
            }
          }
          await new Promise<void>((resolve) => (signal = resolve));
        }
        await insertStaged();
        if (afterInsert) await afterInsert(trx, 'postgres', fresh);
        return count;
      });
  })();
  // A failed early insert is reported by its write (or forgotten by its discard).
  void done.catch(() => undefined).finally(() => {
    if (open === staged) open = null;
    kick();
  });
  staged.early = {
    decide(commit) {
      decision ??= commit;
      wake();
    },
    wake,
    done,
  };
  open = staged;
  return true;
}

const ROLLED_BACK = new Error('early insert rolled back');

/** Rolls back `staged`'s early insert and waits until its transaction has ended. */
async function rollBack(staged: Staged): Promise<void> {
  const early = staged.early;
  if (!early) return;
  staged.early = null;
  early.decide(false);
  await early.done.catch(() => undefined);
}

async function write(staged: Staged): Promise<number> {
  if (staged.requests.length === 0) return 0;
  writing.add(staged.ids);
  try {
    // Another batch's open early insert holding one of these ids would make this write wait for a
    // commit that only comes after it: roll it back (it starts again once this write is done).
    if (open && open !== staged && meets(open.ids, staged.ids)) await rollBack(open);
    if (staged.early) {
      // Now the batch being written: the next complete batch may start its early insert.
      if (open === staged) open = null;
      staged.early.decide(true);
      const done = staged.early.done;
      kick();
      return await done;
    }
    return await insertBatch(db(), 'postgres', { requests: staged.requests, errors: staged.errors }, await loadHook(), INSERT);
  } finally {
    writing.delete(staged.ids);
    kick();
  }
}

async function probe(): Promise<void> {
  // Both tables readable: the connection works and the schema exists (auto_migrate off and
  // migrations not run yet keeps the writer spooling instead of failing every batch).
  await sql`select 1 from request_logs where 1 = 0`.execute(db());
  await sql`select 1 from error_logs where 1 = 0`.execute(db());
}

async function close(): Promise<void> {
  for (const staged of stages.values()) await rollBack(staged);
  stages.clear();
  const h = handle;
  handle = null;
  await h?.close();
}

async function answer(msg: Extract<WorkerRequest, { id: number }>): Promise<WorkerReply> {
  try {
    if (msg.op === 'write') {
      const staged = stages.take(msg.batch);
      // All or nothing (a spool replay bisects down to the bad record).
      if (msg.strict && staged.bad.length) {
        await rollBack(staged);
        return { id: msg.id, ok: false, message: staged.bad[0]!.message, code: null };
      }
      return { id: msg.id, ok: true, inserted: await write(staged), bad: staged.bad };
    }
    if (msg.op === 'probe') await probe();
    else await close();
    return { id: msg.id, ok: true, inserted: 0 };
  } catch (err) {
    const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : null;
    return { id: msg.id, ok: false, message: err instanceof Error ? err.message : String(err), code };
  }
}

parentPort?.on('message', (msg: WorkerRequest) => {
  if (msg.op === 'records') {
    const staged = stages.of(msg.batch);
    stageRecords(staged, msg.records);
    if (msg.last) staged.complete = true;
    if (staged.early) staged.early.wake();
    else kick();
  } else if (msg.op === 'rows') stageRows(stages.of(msg.batch), msg.requests, msg.errors);
  else if (msg.op === 'discard') {
    const staged = stages.get(msg.batch);
    stages.delete(msg.batch);
    if (staged) void rollBack(staged);
  } else void answer(msg).then((reply) => parentPort?.postMessage(reply));
});
