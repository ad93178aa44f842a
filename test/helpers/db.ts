/**
 * Database fixtures: a temp-file SQLite database, or a fresh, uniquely named database on the test
 * PostgreSQL server (`inject('pgUrl')`, see pg-global-setup.ts). Both are real, empty and
 * unmigrated; `close()` destroys the pool and removes the file / drops the database.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { DatabaseConfig } from '../../src/config/types.ts';
import type { Dialect } from '../../src/db/dialect.ts';
import { createDatabase } from '../../src/db/factory.ts';
import type { Database } from '../../src/db/schema.ts';

export interface TestDb {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** Opens the same database again (e.g. for a child process or a second pool). */
  readonly config: DatabaseConfig;
  close(): Promise<void>;
}

const BASE: DatabaseConfig = {
  enabled: true,
  backend: 'sqlite',
  autoMigrate: true,
  sqlite: { path: ':memory:' },
  postgres: { host: '127.0.0.1', port: 5432, database: 'postgres', user: 'postgres', password: '' },
  poolSize: 2,
  maxOverflow: 3,
  batchMaxRows: 500,
  batchMaxMs: 50,
  queueMaxRows: 50_000,
  spoolDir: path.join(os.tmpdir(), 'yallmp-spool-unused'),
  retention: { rawDays: 30, minuteRollupDays: 7, hourRollupDays: 0, intervalMs: 600_000 },
};

export function sqliteTestConfig(file: string): DatabaseConfig {
  return { ...BASE, backend: 'sqlite', sqlite: { path: file } };
}

/** A config for the server at `url`, optionally pointed at another database on it. */
export function pgTestConfig(url: string, database?: string): DatabaseConfig {
  const u = new URL(url);
  return {
    ...BASE,
    backend: 'postgres',
    postgres: {
      host: u.hostname,
      port: u.port ? Number(u.port) : 5432,
      database: database ?? (decodeURIComponent(u.pathname.slice(1)) || 'postgres'),
      user: decodeURIComponent(u.username) || 'postgres',
      password: decodeURIComponent(u.password),
    },
  };
}

export async function withSqlite(): Promise<TestDb> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'yallmp-sqlite-'));
  const config = sqliteTestConfig(path.join(dir, 'test.db'));
  const { db, dialect, close } = createDatabase(config);
  return {
    db,
    dialect,
    config,
    close: async () => {
      await close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `pgUrl` comes from `inject('pgUrl')`; taken as an argument so this file does not need vitest. */
export async function withPostgres(pgUrl: string): Promise<TestDb> {
  const name = `yallmp_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = createDatabase(pgTestConfig(pgUrl));
  try {
    await sql`create database ${sql.id(name)}`.execute(admin.db);
  } finally {
    await admin.close();
  }
  const config = pgTestConfig(pgUrl, name);
  const { db, dialect, close } = createDatabase(config);
  return {
    db,
    dialect,
    config,
    close: async () => {
      await close();
      const cleanup = createDatabase(pgTestConfig(pgUrl));
      try {
        // FORCE: a child process or leaked pool must not keep the test database alive.
        await sql`drop database if exists ${sql.id(name)} with (force)`.execute(cleanup.db);
      } finally {
        await cleanup.close();
      }
    },
  };
}

export function withDialect(dialect: Dialect, pgUrl: string): Promise<TestDb> {
  return dialect === 'sqlite' ? withSqlite() : withPostgres(pgUrl);
}
