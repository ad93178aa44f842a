/**
 * Migration commands (latest, current, history, down, up, create), run identically on SQLite and
 * on a real PostgreSQL (architecture invariant 6). Each test gets a fresh, empty database.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import type { Dialect } from '../src/db/dialect.ts';
import { createDatabase } from '../src/db/factory.ts';
import {
  MIGRATIONS_DIR,
  MIGRATION_LOCK_KEY,
  MigrationError,
  createMigrationFile,
  currentMigration,
  migrateDown,
  migrateToLatest,
  migrateUp,
  migrationHistory,
} from '../src/db/migrator.ts';
import { TABLE_COLUMNS } from '../src/db/schema.ts';
import { copyMigrations } from './helpers/db-introspect.ts';
import { withDialect } from './helpers/db.ts';
import type { TestDb } from './helpers/db.ts';

const pgUrl = inject('pgUrl');
const FIRST = '0001_create_request_logs_and_error_logs';
const ALL = (await readdir(MIGRATIONS_DIR))
  .filter((f) => /^\d{4}_.*\.ts$/.test(f))
  .map((f) => f.slice(0, -'.ts'.length))
  .sort();
const NEXT_NUMBER = String(ALL.length + 1).padStart(4, '0');
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const up = (name: string) => ({ migrationName: name, direction: 'Up', status: 'Success' });
const down = (name: string) => ({ migrationName: name, direction: 'Down', status: 'Success' });

describe.each(['sqlite', 'postgres'] as const)('migrations on %s', (dialect: Dialect) => {
  let t: TestDb;
  beforeEach(async () => {
    t = await withDialect(dialect, pgUrl);
  });
  afterEach(async () => {
    await t.close();
  });

  const tableNames = async () => (await t.db.introspection.getTables()).map((x) => x.name).sort();

  it('latest applies every migration, starting with 0001, and then has nothing to do', async () => {
    expect(ALL[0]).toBe(FIRST);
    expect(await migrateToLatest(t.db, dialect)).toEqual(ALL.map(up));
    expect(await migrateToLatest(t.db, dialect)).toEqual([]);
    expect(await tableNames()).toEqual(Object.keys(TABLE_COLUMNS).sort());
  });

  it('current is null on an empty database, then the last applied with its time', async () => {
    expect(await currentMigration(t.db)).toBeNull();
    const before = Date.now();
    await migrateToLatest(t.db, dialect);
    const current = await currentMigration(t.db);
    expect(current?.name).toBe(ALL.at(-1));
    expect(current?.executedAt.getTime()).toBeGreaterThanOrEqual(before - 1_000);
    expect(current?.executedAt.getTime()).toBeLessThanOrEqual(Date.now() + 1_000);
  });

  it('history lists applied migrations with timestamps, then pending ones', async () => {
    const copy = await copyMigrations();
    try {
      const empty = await migrationHistory(t.db, { migrationsDir: copy.dir });
      expect(empty).toEqual({ applied: [], pending: ALL });
      await migrateToLatest(t.db, dialect, { migrationsDir: copy.dir });
      const file = await createMigrationFile('later change', { migrationsDir: copy.dir });
      const history = await migrationHistory(t.db, { migrationsDir: copy.dir });
      expect(history.applied.map((m) => m.name)).toEqual(ALL);
      for (const m of history.applied) expect(m.executedAt.toISOString()).toMatch(ISO_UTC);
      expect(history.pending).toEqual([path.basename(file, '.ts')]);
    } finally {
      await copy.remove();
    }
  });

  it('down reverts one migration at a time; up applies the next one again', async () => {
    await migrateToLatest(t.db, dialect);
    for (const name of [...ALL].reverse()) expect(await migrateDown(t.db, dialect)).toEqual([down(name)]);
    expect(await migrateDown(t.db, dialect)).toEqual([]);
    expect(await tableNames()).toEqual([]);
    expect(await currentMigration(t.db)).toBeNull();

    expect(await migrateUp(t.db, dialect)).toEqual([up(FIRST)]);
    // 0001 alone: the seed's two tables, without 0002's rollups.
    expect(await tableNames()).toEqual(['error_logs', 'request_logs']);
    expect((await currentMigration(t.db))?.name).toBe(FIRST);
    await migrateToLatest(t.db, dialect);
    expect(await migrateUp(t.db, dialect)).toEqual([]);
  });

  it('create writes the next numbered file from a template; it is pending, applies, reverts', async () => {
    const copy = await copyMigrations();
    try {
      await migrateToLatest(t.db, dialect, { migrationsDir: copy.dir });
      const file = await createMigrationFile('Add Usage Rollups!', { migrationsDir: copy.dir });
      const name = `${NEXT_NUMBER}_add_usage_rollups`;
      expect(file).toBe(path.join(copy.dir, `${name}.ts`));
      const text = await readFile(file, 'utf8');
      expect(text).toContain("import type { Kysely } from 'kysely';");
      expect(text).toContain('export async function up(db: Kysely<any>): Promise<void>');
      expect(text).toContain('export async function down(db: Kysely<any>): Promise<void>');
      await expect(createMigrationFile(' !! ', { migrationsDir: copy.dir })).rejects.toThrow(/no usable/);

      expect((await migrationHistory(t.db, { migrationsDir: copy.dir })).pending).toEqual([name]);
      expect(await migrateToLatest(t.db, dialect, { migrationsDir: copy.dir })).toEqual([up(name)]);
      expect(await migrateDown(t.db, dialect, { migrationsDir: copy.dir })).toEqual([down(name)]);
    } finally {
      await copy.remove();
    }
  });

  it('a failing migration throws MigrationError with the results and leaves nothing half-done', async () => {
    const copy = await copyMigrations();
    try {
      await migrateToLatest(t.db, dialect, { migrationsDir: copy.dir });
      const broken = `${NEXT_NUMBER}_broken`;
      await writeFile(
        path.join(copy.dir, `${broken}.ts`),
        `export async function up(db) {
           await db.schema.createTable('half_done').addColumn('id', 'integer').execute();
           throw new Error('boom');
         }
         export async function down() {}\n`,
      );
      const error = await migrateToLatest(t.db, dialect, { migrationsDir: copy.dir }).catch((e) => e);
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as MigrationError).message).toContain('boom');
      expect((error as MigrationError).results).toEqual([{ ...up(broken), status: 'Error' }]);
      // SQLite too: the factory's adapter makes Kysely run each migration in a transaction.
      expect(await tableNames()).toEqual(Object.keys(TABLE_COLUMNS).sort());
      expect((await currentMigration(t.db, { migrationsDir: copy.dir }))?.name).toBe(ALL.at(-1));
    } finally {
      await copy.remove();
    }
  });
});

describe('migrations on postgres: replicas', () => {
  let t: TestDb;
  beforeEach(async () => {
    t = await withDialect('postgres', pgUrl);
  });
  afterEach(async () => {
    await t.close();
  });

  it('migrate in parallel (advisory lock): all succeed, one applies, the lock is released', async () => {
    const replicas = [
      createDatabase(t.config),
      createDatabase(t.config),
      // A pool of one must not deadlock: the lock and the Migrator share its single connection.
      createDatabase({ ...t.config, poolSize: 1, maxOverflow: 0 }),
    ];
    try {
      const outcomes = await Promise.all(replicas.map((r) => migrateToLatest(r.db, r.dialect)));
      expect(outcomes.filter((o) => o.length > 0)).toEqual([ALL.map(up)]);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
    const { rows } = await sql<{ n: number }>`
      select count(*) as n from pg_locks
      where locktype = 'advisory'
        and database = (select oid from pg_database where datname = current_database())`.execute(t.db);
    expect(rows).toEqual([{ n: 0 }]);
  });

  it('waits for the advisory lock another replica holds', async () => {
    const holder = createDatabase(t.config);
    try {
      await holder.db.connection().execute(async (conn) => {
        await sql`select pg_advisory_lock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(conn);
        let done = false;
        const migrating = migrateToLatest(t.db, 'postgres').finally(() => (done = true));
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(done).toBe(false);
        await sql`select pg_advisory_unlock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(conn);
        expect(await migrating).toEqual(ALL.map(up));
      });
    } finally {
      await holder.close();
    }
  });
});
