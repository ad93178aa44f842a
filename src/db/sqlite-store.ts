/**
 * The main-thread side of the SQLite writer: the generic writer-thread store (worker-store.ts)
 * started on sqlite-worker.ts, which owns the writer's connection. A crashed worker fails its
 * pending calls (the writer spools those batches) and is replaced on the next call. Errors the
 * thread reports are `WorkerStoreError`s named `SqliteWorkerError`, with SQLite's code.
 */
import type { SqliteWorkerData } from './sqlite-worker.ts';
import type { BatchStore } from './store.ts';
import { createWorkerStore } from './worker-store.ts';

const WORKER_URL = new URL('./sqlite-worker.ts', import.meta.url);

export function createSqliteWorkerStore(data: SqliteWorkerData): BatchStore {
  return createWorkerStore({ url: WORKER_URL, data: data satisfies SqliteWorkerData, label: 'SQLite writer thread', errorName: 'SqliteWorkerError' });
}
