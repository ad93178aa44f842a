/** The database writer's public shape, its options, and the store they select (the writer itself is writer.ts). */
import type { Kysely } from 'kysely';
import type { Logger } from '../app.ts';
import type { DatabaseConfig } from '../config/types.ts';
import type { RequestRecord, RequestSink } from '../logging/types.ts';
import type { Dialect } from './dialect.ts';
import type { Database } from './schema.ts';
import { PG_WRITER_CONNECTIONS, createPgWorkerStore } from './pg-store.ts';
import { createSqliteWorkerStore } from './sqlite-store.ts';
import { createKyselyStore } from './store.ts';
import type { BatchStore } from './store.ts';

export interface DbWriterStats {
  /** Records in memory: waiting, being written, or on their way to the spool. */
  queued: number;
  /** New rows committed straight from the queue. */
  written: number;
  /** Records appended to the spool (queue full or database failing). */
  spooled: number;
  /** New rows committed from the spool. */
  replayed: number;
  /** Records that could be kept neither in the database nor in the spool, and rejected rows. */
  dropped: number;
  /** Failed batch writes, probes and start-up preparations. */
  writeErrors: number;
  lastError: string | null;
  /** False from a failed write until a probe succeeds; while false, batches go to the spool. */
  dbUp: boolean;
}

export interface DbWriter extends RequestSink {
  publish(record: RequestRecord): void;
  /** Writes everything queued (to the database, or the spool while it is down) and stops. */
  close(): Promise<void>;
  /**
   * Resolves once the store has answered one probe (the SQLite thread has loaded and opened its
   * connection), or failed to. Start-up awaits it before listening, so a crash right after start
   * does not lose the first requests' rows to a thread that was still loading.
   */
  warmUp(): Promise<void>;
  /** Live counters (updated in place). */
  readonly stats: DbWriterStats;
}

export interface DbWriterOptions {
  readonly dialect: Dialect;
  /** Write through this in-process Kysely, on the event loop (tests, SQLite `:memory:`)... */
  readonly db?: Kysely<Database>;
  /** ...or from a worker thread with its own connection to this SQLite file... */
  readonly sqliteFile?: string;
  /**
   * ...or from a worker thread with its own small pool (`PG_WRITER_CONNECTIONS` connections) to
   * this PostgreSQL server...
   */
  readonly postgres?: DatabaseConfig['postgres'];
  /** ...or to any store (tests, benchmarks). */
  readonly store?: BatchStore;
  readonly config: Pick<DatabaseConfig, 'batchMaxRows' | 'batchMaxMs' | 'queueMaxRows'>;
  readonly spoolDir: string;
  readonly log: Logger;
  /** Must succeed before the first write (migrations); retried by the recovery loop. */
  readonly prepare?: () => Promise<void>;
  /** Start spooling right away (the database could not be opened at start-up). */
  readonly startDown?: boolean;
  readonly redactHeaders?: readonly string[];
  /** Module exporting `afterInsert` (batch.ts), run inside every batch's transaction. */
  readonly afterInsertModule?: string;
  readonly sqliteBusyTimeoutMs?: number;
  /** Recovery backoff, doubling from `minMs` to `maxMs` (default 500 ms → 30 s). */
  readonly retry?: { readonly minMs: number; readonly maxMs: number };
  readonly maxSpoolPendingBytes?: number;
  /** A store call (write, probe) that has not settled by then counts as failed (default 30 s). */
  readonly opTimeoutMs?: number;
}

/** The store the options ask for. */
export function pickStore(o: DbWriterOptions): BatchStore {
  if (o.store) return o.store;
  if (o.db) return createKyselyStore({ db: o.db, dialect: o.dialect, afterInsertModule: o.afterInsertModule });
  if (o.sqliteFile && o.dialect === 'sqlite') {
    return createSqliteWorkerStore({
      file: o.sqliteFile,
      busyTimeoutMs: o.sqliteBusyTimeoutMs,
      afterInsertModule: o.afterInsertModule,
      redactHeaders: o.redactHeaders,
    });
  }
  if (o.postgres && o.dialect === 'postgres') {
    return createPgWorkerStore({
      // Plain data only: the settings are cloned into the thread.
      postgres: { host: o.postgres.host, port: o.postgres.port, database: o.postgres.database, user: o.postgres.user, password: o.postgres.password },
      connections: PG_WRITER_CONNECTIONS,
      afterInsertModule: o.afterInsertModule,
      redactHeaders: o.redactHeaders,
    });
  }
  throw new TypeError('createDbWriter needs `db`, `sqliteFile` (SQLite), `postgres` (PostgreSQL) or `store`');
}
