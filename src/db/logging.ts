/**
 * Start-up of database logging: open the configured database, apply pending migrations (unless
 * `auto_migrate: false`), and start the writer. A database that cannot be opened or migrated
 * does not stop the proxy: the writer starts in "down" mode, rows go to the spool, and the
 * recovery loop keeps retrying the whole preparation (migrations included).
 */
import type { Logger } from '../app.ts';
import type { DatabaseConfig } from '../config/types.ts';
import { createDatabase, resolveSqlitePath } from './factory.ts';
import type { DatabaseHandle } from './factory.ts';
import { migrateToLatest } from './migrator.ts';
import { createDbWriter } from './writer.ts';
import type { DbWriter, DbWriterOptions } from './writer.ts';

export interface DatabaseLogging {
  readonly writer: DbWriter;
  /** The main-thread handle (migrations, readers); null until the database could be opened. */
  handle(): DatabaseHandle | null;
  /** Drains the writer, then closes the handle. */
  close(): Promise<void>;
}

export interface DatabaseLoggingOptions {
  readonly config: DatabaseConfig;
  readonly rootDir: string;
  readonly log: Logger;
  readonly redactHeaders?: readonly string[];
  /** Passed to the writer (tests: short backoff, SQLite busy timeout). */
  readonly writer?: Pick<DbWriterOptions, 'retry' | 'sqliteBusyTimeoutMs' | 'afterInsertModule'>;
}

/** Resolved from this file, so it works under tsx, vitest and the worker thread alike. */
export const ROLLUP_HOOK = new URL('./rollup-hook.ts', import.meta.url).href;

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function startDatabaseLogging(opts: DatabaseLoggingOptions): Promise<DatabaseLogging> {
  const { config: cfg, log, rootDir } = opts;
  let handle: DatabaseHandle | null = null;

  const prepare = async (): Promise<void> => {
    handle ??= createDatabase(cfg, {
      rootDir,
      onPoolError: (err) => log.warn(`database: idle connection error: ${err.message}`),
    });
    if (!cfg.autoMigrate) return;
    const applied = await migrateToLatest(handle.db, handle.dialect);
    if (applied.length) log.info(`database: applied migrations ${applied.map((m) => m.migrationName).join(', ')}`);
  };

  let ready = true;
  try {
    await prepare();
  } catch (err) {
    ready = false;
    log.error(`database: ${cfg.backend} is not usable at start-up (${describe(err)}); request rows go to ${cfg.spoolDir} until it is`);
  }

  // Both backends write from a thread with connections of its own (sqlite-worker.ts, pg-worker.ts);
  // the handle above stays on this thread for migrations and readers. Only SQLite `:memory:`
  // cannot move: it exists only on the connection that created it.
  const sqliteFile = cfg.backend === 'sqlite' ? resolveSqlitePath(cfg.sqlite.path, rootDir) : null;
  const inProcess = sqliteFile === ':memory:';
  if (inProcess && !handle) handle = createDatabase(cfg, { rootDir });
  const target: Pick<DbWriterOptions, 'db' | 'sqliteFile' | 'postgres'> =
    sqliteFile === null ? { postgres: cfg.postgres } : inProcess ? { db: handle!.db } : { sqliteFile };
  const writer = createDbWriter({
    // Usage rollups commit with the rows unless a caller (a test) names another hook.
    afterInsertModule: ROLLUP_HOOK,
    ...opts.writer,
    dialect: cfg.backend,
    ...target,
    config: cfg,
    spoolDir: cfg.spoolDir,
    log,
    redactHeaders: opts.redactHeaders,
    startDown: !ready,
    ...(ready ? {} : { prepare }),
  });
  if (ready) await writer.warmUp();

  return {
    writer,
    handle: () => handle,
    async close() {
      await writer.close();
      await handle?.close();
      handle = null;
    },
  };
}
