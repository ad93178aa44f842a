/**
 * Opens the configured database. The only module that imports `better-sqlite3` or `pg`, so the
 * rest of the code depends on Kysely alone.
 *
 * `cfg.enabled` is the caller's decision (the composition root skips the database entirely when it
 * is false); this factory opens whatever backend it is given.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { Kysely, PostgresDialect, SqliteAdapter, SqliteDialect } from 'kysely';
import type { DialectAdapter } from 'kysely';
import type { DatabaseConfig } from '../config/types.ts';
import { UNICODE_LOWER, type Dialect } from './dialect.ts';
import type { Database } from './schema.ts';

export type SqliteConnection = SqliteDatabase.Database;

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  close(): Promise<void>;
}

export interface CreateDatabaseOptions {
  /** Base for a relative SQLite path; defaults to the project root. */
  readonly rootDir?: string;
  /** Errors of idle pooled PostgreSQL connections (server restart, network drop). */
  readonly onPoolError?: (error: Error) => void;
}

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const SQLITE_BUSY_TIMEOUT_MS = 5_000;
const PG_CONNECT_TIMEOUT_MS = 10_000;
const PG_IDLE_TIMEOUT_MS = 30_000;
const PG_INT8_OID = 20;
const PG_NUMERIC_OID = 1700;

export function createDatabase(cfg: DatabaseConfig, opts: CreateDatabaseOptions = {}): DatabaseHandle {
  return cfg.backend === 'sqlite' ? createSqlite(cfg, opts) : createPostgres(cfg, opts);
}

/** Absolute path of the SQLite file; `:memory:` stays as it is. */
export function resolveSqlitePath(file: string, rootDir: string = PROJECT_ROOT): string {
  return file === ':memory:' ? file : path.resolve(rootDir, file);
}

/**
 * A raw better-sqlite3 connection with the same pragmas as `createDatabase` uses, for a worker
 * thread that writes synchronously. Creates the file's directory.
 */
export function openSqliteRaw(file: string, rootDir: string = PROJECT_ROOT): SqliteConnection {
  const resolved = resolveSqlitePath(file, rootDir);
  if (resolved !== ':memory:') mkdirSync(path.dirname(resolved), { recursive: true });
  const conn = new SqliteDatabase(resolved);
  // Only a new, empty file takes it (an existing database keeps its page size): rows of a few KB
  // with six indexes are written in fewer, fuller pages (about 15 % less insert work than 4 KiB).
  conn.pragma('page_size = 8192');
  // WAL lets readers (the API) run while the writer commits; NORMAL is durable across app
  // crashes in WAL mode and avoids an fsync per commit.
  conn.pragma('journal_mode = WAL');
  conn.pragma('synchronous = NORMAL');
  conn.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  // Off by default in SQLite; without it error_logs.request_log_id's ON DELETE SET NULL is inert.
  conn.pragma('foreign_keys = ON');
  // SQLite's lower() and LIKE fold ASCII only; PostgreSQL's ILIKE folds every letter (É/é).
  // Searches with non-ASCII text use this, so both dialects find the same rows.
  conn.function(UNICODE_LOWER, { deterministic: true }, (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value));
  return conn;
}

/** SQLite runs DDL inside transactions fine; Kysely's adapter just does not claim it. */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

/** Makes the Migrator wrap each SQLite migration and its bookkeeping row in one transaction. */
class YallmpSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

function createSqlite(cfg: DatabaseConfig, opts: CreateDatabaseOptions): DatabaseHandle {
  const conn = openSqliteRaw(cfg.sqlite.path, opts.rootDir);
  const db = new Kysely<Database>({ dialect: new YallmpSqliteDialect({ database: conn }) });
  return { db, dialect: 'sqlite', close: () => db.destroy() };
}

const toNumber = (value: string): number => Number(value);

/**
 * COUNT/SUM come back as int8/numeric, which pg returns as strings to avoid precision loss; the
 * counts and token sums here stay far below 2^53. Pool-local so other pg users are unaffected.
 */
const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === PG_INT8_OID || oid === PG_NUMERIC_OID
      ? toNumber
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

function createPostgres(cfg: DatabaseConfig, opts: CreateDatabaseOptions): DatabaseHandle {
  const { host, port, database, user, password } = cfg.postgres;
  const pool = new pg.Pool({
    host,
    port,
    database,
    user,
    password,
    max: Math.max(1, cfg.poolSize + cfg.maxOverflow),
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: PG_IDLE_TIMEOUT_MS,
    application_name: 'yallmproxy',
    types: pgTypes,
  });
  // An idle client's error is emitted on the pool; unhandled, it would crash the process.
  pool.on('error', (error) => opts.onPoolError?.(error));
  // A checked-out client whose connection drops (mid-transaction, say) emits 'error' on itself,
  // where the pool's listener is not attached; with no listener that kills the process. The query
  // in flight fails on its own and its caller (the writer: spool, recovery) handles that, so
  // here the event only needs a listener.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}
