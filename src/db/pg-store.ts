/**
 * The main-thread side of the PostgreSQL writer: the generic writer-thread store (worker-store.ts)
 * started on pg-worker.ts, which encodes the records and inserts them on a small pool of its own.
 * A crashed thread fails its pending calls (the writer spools those batches) and is replaced on
 * the next call. Errors the thread reports are `WorkerStoreError`s named `PgWorkerError`, with
 * the server's SQLSTATE (or the socket's code, e.g. ECONNREFUSED).
 */
import type { PgWorkerData } from './pg-worker.ts';
import type { BatchStore } from './store.ts';
import { createWorkerStore } from './worker-store.ts';

const WORKER_URL = new URL('./pg-worker.ts', import.meta.url);

/**
 * Connections the thread may hold (opened on demand, closed after 30 s idle): the batch being
 * committed, the next batch's early insert (pg-worker.ts), and one more so that a probe reaches
 * the server while a write is stuck on a connection the writer's lane has given up on. In steady
 * operation two are open. They come on top of the main pool's `pool_size + max_overflow`.
 */
export const PG_WRITER_CONNECTIONS = 3;

export function createPgWorkerStore(data: PgWorkerData): BatchStore {
  return createWorkerStore({ url: WORKER_URL, data: data satisfies PgWorkerData, label: 'PostgreSQL writer thread', errorName: 'PgWorkerError' });
}
