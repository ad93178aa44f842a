/**
 * The main-thread side of the SQLite writer: a BatchStore that forwards each batch to the worker
 * in sqlite-worker.ts and awaits its reply. A crashed worker fails its pending calls (the writer
 * spools those batches) and is replaced on the next call.
 */
import { Worker } from 'node:worker_threads';
import { ERROR_INSERT_COLUMNS, REQUEST_INSERT_COLUMNS } from './batch.ts';
import type { SqliteWorkerData, WorkerReply, WorkerRequest } from './sqlite-worker.ts';
import type { BatchStore } from './store.ts';

const WORKER_URL = new URL('./sqlite-worker.ts', import.meta.url);
const ROWS_PER_MESSAGE = 100;

export class SqliteWorkerError extends Error {
  readonly code: string | null;

  constructor(message: string, code: string | null) {
    super(message);
    this.name = 'SqliteWorkerError';
    this.code = code;
  }
}

/**
 * The worker is a `.ts` file, and on Node 20 a worker thread does not apply the tsx loader to its
 * own entry module even when `--import tsx` is in its execArgv ("Unknown file extension .ts").
 * So the thread starts from a tiny script that registers tsx's hooks first and then imports the
 * real entry. tsx is resolved here, from this package, so the working directory does not matter.
 */
function spawnWorker(data: SqliteWorkerData): Worker {
  if (!WORKER_URL.pathname.endsWith('.ts')) return new Worker(WORKER_URL, { workerData: data });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); })`;
  return new Worker(boot, { eval: true, workerData: data });
}

/** A request that gets a reply, before it gets its id. */
type Outgoing = Omit<Extract<WorkerRequest, { id: number }>, 'id'>;

type Pending = { resolve: (reply: WorkerReply) => void; reject: (err: Error) => void };

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
    const w = spawnWorker(data);
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
  const call = async (msg: Outgoing, w: Worker = (worker ??= spawn())): Promise<number> => {
    if (worker !== w) throw new Error('SQLite writer thread exited');
    const id = nextId++;
    const reply = await new Promise<WorkerReply>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ ...msg, id });
    });
    if (!reply.ok) throw new SqliteWorkerError(reply.message, reply.code);
    return reply.inserted;
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
      for (let i = 0; i < Math.max(requests.length, errors.length); i += ROWS_PER_MESSAGE) {
        w.postMessage({ op: 'rows', requests: requests.slice(i, i + ROWS_PER_MESSAGE), errors: errors.slice(i, i + ROWS_PER_MESSAGE) });
      }
      return call({ op: 'write' }, w);
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
