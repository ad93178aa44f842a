/**
 * The database the seeding and usage benchmarks work on: a SQLite file or a PostgreSQL database,
 * as a `DatabaseConfig` the proxy's own code (startDatabaseLogging, createDatabase) accepts.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import type { DatabaseConfig } from '../../src/config/types.ts';
import type { Dialect } from '../../src/db/dialect.ts';
import { createDatabase } from '../../src/db/factory.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_SQLITE = join(ROOT, '.bench', 'usage-1m.db');
export const DEFAULT_PG = 'postgres://postgres@127.0.0.1:5432/yallmp_bench';

export interface Target {
  readonly dialect: Dialect;
  /** SQLite path (relative to the project when inside it), or the PostgreSQL URL without its password. */
  readonly label: string;
  readonly config: DatabaseConfig;
}

const BASE: Omit<DatabaseConfig, 'backend' | 'sqlite' | 'postgres'> = {
  enabled: true,
  autoMigrate: true,
  poolSize: 5,
  maxOverflow: 10,
  batchMaxRows: 500,
  batchMaxMs: 50,
  queueMaxRows: 50_000,
  spoolDir: join(ROOT, '.bench', 'spool'),
  retention: { rawDays: 0, minuteRollupDays: 0, hourRollupDays: 0, intervalMs: 600_000 },
};

export function parseDialect(raw: string | undefined): Dialect {
  if (raw === undefined || raw === 'sqlite') return 'sqlite';
  if (raw === 'postgres' || raw === 'postgresql' || raw === 'pg') return 'postgres';
  throw new Error(`--dialect must be sqlite or postgres, got ${raw}`);
}

export function resolveTarget(dialect: Dialect, db: string | undefined): Target {
  if (dialect === 'sqlite') {
    const file = resolve(db ?? DEFAULT_SQLITE);
    const rel = relative(ROOT, file);
    return {
      dialect,
      label: rel.startsWith('..') || isAbsolute(rel) ? file : rel,
      config: { ...BASE, backend: 'sqlite', sqlite: { path: file }, postgres: { host: '', port: 0, database: '', user: '', password: '' } },
    };
  }
  const u = new URL(db ?? DEFAULT_PG);
  const database = decodeURIComponent(u.pathname.slice(1));
  if (!database) throw new Error(`--db ${db}: the URL names no database`);
  const shown = new URL(u);
  shown.password = '';
  return {
    dialect,
    label: shown.toString(),
    config: {
      ...BASE,
      backend: 'postgres',
      sqlite: { path: ':memory:' },
      postgres: { host: u.hostname, port: Number(u.port || 5432), database, user: decodeURIComponent(u.username) || 'postgres', password: decodeURIComponent(u.password) },
    },
  };
}

const withDatabase = (t: Target, database: string): DatabaseConfig => ({ ...t.config, postgres: { ...t.config.postgres, database } });

/**
 * Starts from nothing: deletes the SQLite file (and its WAL), or drops and re-creates the
 * PostgreSQL database. Only databases named `yallmp_*` are dropped, so a mistyped URL cannot
 * empty anything else.
 */
export async function recreate(t: Target): Promise<void> {
  if (t.dialect === 'sqlite') {
    const file = t.config.sqlite.path;
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    mkdirSync(dirname(file), { recursive: true });
    return;
  }
  const name = t.config.postgres.database;
  if (!/^yallmp_[a-z0-9_]+$/.test(name)) {
    throw new Error(`refusing to drop database "${name}": only yallmp_* databases are re-created (or pass --append)`);
  }
  const admin = createDatabase(withDatabase(t, 'postgres'));
  try {
    await sql`drop database if exists ${sql.id(name)} with (force)`.execute(admin.db);
    await sql`create database ${sql.id(name)}`.execute(admin.db);
  } finally {
    await admin.close();
  }
}

/** For --append: the PostgreSQL database must exist (created when missing); SQLite creates its file. */
export async function ensureExists(t: Target): Promise<void> {
  if (t.dialect === 'sqlite') {
    mkdirSync(dirname(t.config.sqlite.path), { recursive: true });
    return;
  }
  const name = t.config.postgres.database;
  const admin = createDatabase(withDatabase(t, 'postgres'));
  try {
    const { rows } = await sql<{ n: number }>`select count(*) as n from pg_database where datname = ${name}`.execute(admin.db);
    if (Number(rows[0]?.n ?? 0) === 0) await sql`create database ${sql.id(name)}`.execute(admin.db);
  } finally {
    await admin.close();
  }
}

export function targetExists(t: Target): boolean {
  return t.dialect === 'postgres' || existsSync(t.config.sqlite.path);
}

/** Where the seeding script leaves its figures for the benchmark report. */
export function seedInfoPath(t: Target): string {
  const slug = t.dialect === 'sqlite' ? t.config.sqlite.path.replace(/[^A-Za-z0-9]+/g, '_') : `${t.config.postgres.host}_${t.config.postgres.port}_${t.config.postgres.database}`;
  return join(ROOT, '.bench', 'seed-info', `${t.dialect}-${slug}.json`);
}

export interface SeedInfo {
  readonly date: string;
  readonly command: string;
  readonly dialect: Dialect;
  readonly target: string;
  readonly rows: number;
  readonly errorRows: number;
  readonly days: number;
  readonly seconds: number;
  readonly rowsPerSec: number;
  readonly bytesPerRecord: number;
  readonly loadBefore: number;
  readonly loadAfter: number;
}
