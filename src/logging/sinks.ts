import type { Logger } from '../app.ts';
import type { ProxyConfig } from '../config/types.ts';
import type { DatabaseHandle } from '../db/factory.ts';
import { startDatabaseLogging } from '../db/logging.ts';
import { applyRetention } from '../db/retention.ts';
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

  const retention = database ? scheduleRetention(config.database, () => database.handle(), log) : null;

  const sink = sinks.length ? fanOut(sinks) : nullSink;
  return {
    sink,
    files,
    database: database?.writer.stats ?? null,
    db: () => database?.handle() ?? null,
    async close() {
      retention?.stop();
      // The writer drains before the handle closes; database.close() does both in that order.
      await Promise.allSettled([...sinks.filter((s) => s !== database?.writer).map((s) => s.close?.()), database?.close()]);
    },
  };
}

/**
 * Runs retention every `intervalMs` (first pass a minute after start-up), never two at once, on
 * a timer that does not keep the process alive.
 */
function scheduleRetention(cfg: ProxyConfig['database'], handle: () => DatabaseHandle | null, log: Logger): { stop(): void } | null {
  const r = cfg.retention;
  if (r.rawDays === 0 && r.minuteRollupDays === 0 && r.hourRollupDays === 0) return null;
  let running = false;
  const pass = async (): Promise<void> => {
    const h = handle();
    if (running || !h) return;
    running = true;
    try {
      const done = await applyRetention(h.db, h.dialect, r);
      const total = done.requestLogs + done.errorLogs + done.minuteRollups + done.hourRollups + done.dayRollups;
      if (total > 0) log.info(`retention: deleted ${JSON.stringify(done)}`);
    } catch (err) {
      log.warn(`retention: ${(err as Error)?.message ?? String(err)}`);
    } finally {
      running = false;
    }
  };
  const first = setTimeout(() => void pass(), Math.min(60_000, r.intervalMs));
  const every = setInterval(() => void pass(), r.intervalMs);
  first.unref();
  every.unref();
  return {
    stop() {
      clearTimeout(first);
      clearInterval(every);
    },
  };
}
