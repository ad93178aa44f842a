/**
 * The main-thread side of the SQLite writer: a BatchStore that forwards each batch to the worker
 * in sqlite-worker.ts and awaits its reply. A crashed worker fails its pending calls (the writer
 * spools those batches) and is replaced on the next call.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import { spawnTsWorker } from '../ts-worker.ts';
import { ERROR_INSERT_COLUMNS, REQUEST_INSERT_COLUMNS } from './batch.ts';
import type { SqliteWorkerData, WorkerReply, WorkerRequest } from './sqlite-worker.ts';
import type { BatchStore, RecordsWriteResult } from './store.ts';
import type { RequestRecord } from '../logging/types.ts';
import { recordJson } from '../logging/wire.ts';

const WORKER_URL = new URL('./sqlite-worker.ts', import.meta.url);
const ROWS_PER_MESSAGE = 100;
/**
 * Records per message, as JSON text (wire.ts; usually already serialised for the file sink): 32
 * records are well under a millisecond of the loop's time, and the loop gets a turn between two
 * messages while the thread encodes.
 */
const RECORDS_PER_MESSAGE = 32;


export class SqliteWorkerError extends Error {
  readonly code: string | null;

  constructor(message: string, code: string | null) {
    super(message);
    this.name = 'SqliteWorkerError';
    this.code = code;
  }
}

/** A request that gets a reply, before it gets its id. */
type Outgoing = Extract<WorkerRequest, { id: number }> extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

type Pending = { resolve: (reply: WorkerReply) => void; reject: (err: Error) => void };

/** Records on their way to (or staged in) the thread, under their batch number. */
interface Staged {
  readonly worker: Worker;
  readonly batch: number;
  /** Settles once every message of the batch is posted. */
  readonly posted: Promise<void>;
}

export function createSqliteWorkerStore(data: SqliteWorkerData): BatchStore {
  let worker: Worker | null = null;
  const pending = new Map<number, Pending>();
  let nextId = 1;

  const failAll = (w: Worker, err: Error): void => {
    if (worker !== w) return;
    worker = null;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };

  const spawn = (): Worker => {
    const w = spawnTsWorker(WORKER_URL, data satisfies SqliteWorkerData);
    w.on('message', (reply: WorkerReply) => {
      const p = pending.get(reply.id);
      pending.delete(reply.id);
      // An idle worker must not keep the process alive; a busy one must.
      if (pending.size === 0) w.unref();
      p?.resolve(reply);
    });
    w.on('error', (err) => failAll(w, err));
    w.on('exit', (code) => failAll(w, new Error(`SQLite writer thread exited (code ${code})`)));
    return w;
  };

  /** `w`: the thread that must answer (the one holding a batch's staged rows). */
  const call = async (msg: Outgoing, w: Worker = (worker ??= spawn())): Promise<Extract<WorkerReply, { ok: true }>> => {
    if (worker !== w) throw new Error('SQLite writer thread exited');
    const id = nextId++;
    const reply = await new Promise<WorkerReply>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ ...msg, id });
    });
    if (!reply.ok) throw new SqliteWorkerError(reply.message, reply.code);
    return reply;
  };

  let nextBatch = 1;
  /** Batches handed over ahead of their write (see `prestage`). */
  const prestaged = new WeakMap<readonly RequestRecord[], Staged>();

  /** Posts `records` to the thread under a new batch number, 32 at a time, the loop running between. */
  const stage = (records: readonly RequestRecord[]): Staged => {
    const w = (worker ??= spawn());
    const batch = nextBatch++;
    const posted = (async () => {
      for (let i = 0; i < records.length; i += RECORDS_PER_MESSAGE) {
        if (i > 0) await yieldToLoop();
        if (worker !== w) return;
        const part = records.slice(i, i + RECORDS_PER_MESSAGE).map(recordJson);
        w.postMessage({ op: 'records', batch, records: part } satisfies WorkerRequest);
      }
    })();
    return { worker: w, batch, posted };
  };

  // Started now, not on the first batch: loading the worker's modules takes about a second.
  worker = spawn();
  worker.unref();

  return {
    async write(rows) {
      const w = (worker ??= spawn());
      // Values in column order, structured-cloned in chunks of 100 rows (~0.2 ms each): JSON text
      // would cost a second escaping of every JSON column. All chunks go out at once: yielding
      // between them let the next batch's encoding slices in, and the thread sat idle meanwhile.
      const requests = rows.requests.map((r) => REQUEST_INSERT_COLUMNS.map((c) => r[c] ?? null));
      const errors = rows.errors.map((r) => ERROR_INSERT_COLUMNS.map((c) => r[c] ?? null));
      const batch = nextBatch++;
      for (let i = 0; i < Math.max(requests.length, errors.length); i += ROWS_PER_MESSAGE) {
        w.postMessage({
          op: 'rows',
          batch,
          requests: requests.slice(i, i + ROWS_PER_MESSAGE),
          errors: errors.slice(i, i + ROWS_PER_MESSAGE),
        } satisfies WorkerRequest);
      }
      return (await call({ op: 'write', batch }, w)).inserted;
    },
    prestage(records) {
      if (!prestaged.has(records)) prestaged.set(records, stage(records));
    },
    discard(records) {
      const staged = prestaged.get(records);
      prestaged.delete(records);
      if (staged && worker === staged.worker) void staged.posted.then(() => staged.worker.postMessage({ op: 'discard', batch: staged.batch } satisfies WorkerRequest));
    },
    async writeRecords(records, strict): Promise<RecordsWriteResult> {
      const staged = prestaged.get(records) ?? stage(records);
      prestaged.delete(records);
      await staged.posted;
      const reply = await call({ op: 'write', batch: staged.batch, strict }, staged.worker);
      return { inserted: reply.inserted, bad: (reply.bad ?? []).map((b) => ({ index: b.index, error: new Error(b.message) })) };
    },
    async probe() {
      await call({ op: 'probe' });
    },
    async close() {
      const w = worker;
      if (!w) return;
      await call({ op: 'close' }).catch(() => undefined);
      worker = null;
      await w.terminate();
    },
  };
}
