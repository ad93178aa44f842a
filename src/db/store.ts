/**
 * Where the database writer sends its batches. `createKyselyStore` runs the transaction on an
 * in-process Kysely (tests, or an SQLite `:memory:` database that only this thread can see); the
 * writer-thread stores (worker-store.ts: `createSqliteWorkerStore` in sqlite-store.ts,
 * `createPgWorkerStore` in pg-store.ts) take the records themselves and encode and insert them in
 * a thread with its own connections, which is what the proxy uses.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { insertBatch, loadAfterInsert } from './batch.ts';
import type { AfterInsert } from './batch.ts';
import type { Dialect } from './dialect.ts';
import type { EncodedRows } from './rows.ts';
import type { Database } from './schema.ts';

/** What `writeRecords` did: new request rows, and the records that could not be encoded. */
export interface RecordsWriteResult {
  readonly inserted: number;
  /** Positions (in the texts given) of records that cannot become rows, and why. */
  readonly bad: readonly { readonly index: number; readonly error: Error }[];
}

export interface BatchStore {
  /** Inserts the rows in one transaction; resolves with how many request rows were new. */
  write(rows: EncodedRows): Promise<number>;
  /**
   * Takes records as JSON-lines chunks (writer-encode.ts `jsonLines`: one or more records' JSON
   * text per element), encodes them itself (off the event loop) and inserts them in one
   * transaction. Records that cannot be encoded are skipped and reported in `bad` (by position
   * among the records, across chunks);
   * with `strict`, any such record fails the whole call and nothing is written. Stores without it
   * get rows the writer encoded.
   */
  writeRecords?(texts: readonly string[], strict: boolean): Promise<RecordsWriteResult>;
  /**
   * Starts handing `texts` over now, so the store can encode them while the previous batch
   * commits; a later `writeRecords` of the same array commits them, `discard` drops them.
   */
  prestage?(texts: readonly string[]): void;
  discard?(texts: readonly string[]): void;
  /** Resolves when the log tables can be written (the recovery loop's health check). */
  probe(): Promise<void>;
  /** Frees the store's own resources (not a handle it was given). */
  close(): Promise<void>;
}

export interface KyselyStoreOptions {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** Module exporting `afterInsert` (see batch.ts). */
  readonly afterInsertModule?: string;
}

export function createKyselyStore(opts: KyselyStoreOptions): BatchStore {
  const { db, dialect } = opts;
  let hook: Promise<AfterInsert | undefined> | null = null;
  return {
    async write(rows) {
      // Loaded on first use and retried after a failure, like any other write-path error.
      const afterInsert = await (hook ??= loadAfterInsert(opts.afterInsertModule).catch((err: unknown) => {
        hook = null;
        throw err;
      }));
      return insertBatch(db, dialect, rows, afterInsert);
    },
    async probe() {
      // Reading both tables proves the connection works and the schema exists; a missing table
      // (auto_migrate off, migrations not run yet) keeps the writer spooling instead of failing.
      await sql`select 1 from request_logs where 1 = 0`.execute(db);
      await sql`select 1 from error_logs where 1 = 0`.execute(db);
    },
    close: () => Promise.resolve(),
  };
}
