import type { Logger } from '../app.ts';
import type { ProxyConfig } from '../config/types.ts';
import type { DatabaseHandle } from '../db/factory.ts';
import { startDatabaseLogging } from '../db/logging.ts';
import type { DatabaseLoggingOptions } from '../db/logging.ts';
import type { DbWriterStats } from '../db/writer.ts';
import { fanOut, nullSink } from './fanout.ts';
import { createFileSink, type FileSinkStats } from './files.ts';
import type { RequestSink } from './types.ts';

export interface Sinks {
  /** Where the app publishes finished records (files and database, fanned out). */
  sink: RequestSink;
  files: FileSinkStats | null;
  database: DbWriterStats | null;
  /** The database handle for readers (usage, logs API); null when disabled or not opened yet. */
  db(): DatabaseHandle | null;
  /** Drains every sink (files, database writer → database or spool), then closes the database. */
  close(): Promise<void>;
}

export interface CreateSinksOptions {
  config: ProxyConfig;
  rootDir: string;
  log: Logger;
  /** Writer tuning for tests (backoff, SQLite busy timeout, afterInsert hook). */
  database?: DatabaseLoggingOptions['writer'];
}

/** The sinks the config asks for, fanned out: per-request files and the database writer. */
export async function createSinks(opts: CreateSinksOptions): Promise<Sinks> {
  const { config, log } = opts;
  const sinks: RequestSink[] = [];
  let files: FileSinkStats | null = null;
  if (config.logging.filesEnabled) {
    const fileSink = createFileSink({
      dir: config.logging.dir,
      redactHeaders: config.logging.redactHeaders,
      onError: (err) => log.warn(`request log files: ${(err as Error)?.message ?? String(err)}`),
    });
    files = fileSink.stats;
    sinks.push(fileSink);
  }
  const database = config.database.enabled
    ? await startDatabaseLogging({
        config: config.database,
        rootDir: opts.rootDir,
        log,
        redactHeaders: config.logging.redactHeaders,
        writer: opts.database,
      })
    : null;
  if (database) sinks.push(database.writer);

  const sink = sinks.length ? fanOut(sinks) : nullSink;
  return {
    sink,
    files,
    database: database?.writer.stats ?? null,
    db: () => database?.handle() ?? null,
    async close() {
      // The writer drains before the handle closes; database.close() does both in that order.
      await Promise.allSettled([...sinks.filter((s) => s !== database?.writer).map((s) => s.close?.()), database?.close()]);
    },
  };
}
