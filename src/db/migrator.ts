/**
 * Kysely's Migrator over the files in `migrations/`, with the commands the CLI and the start-up
 * path need. Kysely's Migrator reports failures in `{ error, results }` instead of throwing; every
 * function here checks it and throws a `MigrationError` that still carries the per-migration results.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, sql } from 'kysely';
import type { Kysely, MigrationResult, MigrationResultSet } from 'kysely';
import type { Dialect } from './dialect.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Arbitrary, but fixed forever: every replica must use the same key. */
export const MIGRATION_LOCK_KEY = 7_204_361_517;

export interface MigrateOptions {
  readonly migrationsDir?: string;
}

export interface AppliedMigration {
  readonly name: string;
  readonly executedAt: Date;
}

export interface MigrationHistory {
  /** In the order they were applied. */
  readonly applied: readonly AppliedMigration[];
  readonly pending: readonly string[];
}

export class MigrationError extends Error {
  readonly results: readonly MigrationResult[];

  constructor(cause: unknown, results: readonly MigrationResult[]) {
    super(`migration failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'MigrationError';
    this.results = results;
  }
}

export function createMigrator(db: Kysely<any>, migrationsDir: string = MIGRATIONS_DIR): Migrator {
  return new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: migrationsDir }),
  });
}

/**
 * Runs `fn` with a Kysely bound to one connection. On PostgreSQL that connection first takes a
 * session advisory lock, so replicas starting together migrate one after the other and the later
 * ones find nothing pending. Kysely's PostgresAdapter already takes its own advisory lock around the
 * migration run, but only after creating `kysely_migration` unlocked (it tolerates that race by
 * re-checking); this lock covers the whole sequence. Running the Migrator on the same connection
 * means a pool of one cannot deadlock against itself.
 */
async function withMigrationLock<T>(
  db: Kysely<any>,
  dialect: Dialect,
  fn: (conn: Kysely<any>) => Promise<T>,
): Promise<T> {
  if (dialect !== 'postgres') return fn(db);
  return db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(conn);
    try {
      return await fn(conn);
    } finally {
      await sql`select pg_advisory_unlock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(conn);
    }
  });
}

function unwrap(set: MigrationResultSet): readonly MigrationResult[] {
  const results = set.results ?? [];
  if (set.error !== undefined) throw new MigrationError(set.error, results);
  return results;
}

async function runLocked(
  db: Kysely<any>,
  dialect: Dialect,
  opts: MigrateOptions,
  run: (migrator: Migrator) => Promise<MigrationResultSet>,
): Promise<readonly MigrationResult[]> {
  const set = await withMigrationLock(db, dialect, (conn) =>
    run(createMigrator(conn, opts.migrationsDir)),
  );
  return unwrap(set);
}

/** Applies every pending migration; an empty result means the schema was already current. */
export function migrateToLatest(
  db: Kysely<any>,
  dialect: Dialect,
  opts: MigrateOptions = {},
): Promise<readonly MigrationResult[]> {
  return runLocked(db, dialect, opts, (m) => m.migrateToLatest());
}

/** Applies the next pending migration only. */
export function migrateUp(
  db: Kysely<any>,
  dialect: Dialect,
  opts: MigrateOptions = {},
): Promise<readonly MigrationResult[]> {
  return runLocked(db, dialect, opts, (m) => m.migrateUp());
}

/** Reverts the most recently applied migration. */
export function migrateDown(
  db: Kysely<any>,
  dialect: Dialect,
  opts: MigrateOptions = {},
): Promise<readonly MigrationResult[]> {
  return runLocked(db, dialect, opts, (m) => m.migrateDown());
}

export async function migrationHistory(
  db: Kysely<any>,
  opts: MigrateOptions = {},
): Promise<MigrationHistory> {
  const all = await createMigrator(db, opts.migrationsDir).getMigrations();
  const applied: AppliedMigration[] = [];
  const pending: string[] = [];
  for (const m of all) {
    if (m.executedAt) applied.push({ name: m.name, executedAt: m.executedAt });
    else pending.push(m.name);
  }
  applied.sort(
    (a, b) => a.executedAt.getTime() - b.executedAt.getTime() || a.name.localeCompare(b.name),
  );
  return { applied, pending };
}

/** The last applied migration, or null on an empty database. */
export async function currentMigration(
  db: Kysely<any>,
  opts: MigrateOptions = {},
): Promise<AppliedMigration | null> {
  const { applied } = await migrationHistory(db, opts);
  return applied.at(-1) ?? null;
}

const TEMPLATE = `/**
 * TODO: say why this change is needed. Frozen once shipped.
 * Migrations import only kysely; for per-dialect types see 0001 (adapter instanceof check).
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  void db;
}

export async function down(db: Kysely<any>): Promise<void> {
  void db;
}
`;

/** `"Add user index"` → `add_user_index`; only [a-z0-9_] survive, so the file name is portable. */
export function migrationSlug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** Writes `NNNN_<slug>.ts` numbered after the highest existing file; returns its path. */
export async function createMigrationFile(name: string, opts: MigrateOptions = {}): Promise<string> {
  const slug = migrationSlug(name);
  if (slug === '') throw new Error(`migration name "${name}" has no usable characters`);
  const dir = opts.migrationsDir ?? MIGRATIONS_DIR;
  await fs.mkdir(dir, { recursive: true });
  const numbers = (await fs.readdir(dir))
    .map((file) => /^(\d{4})_/.exec(file)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
  const next = String(Math.max(0, ...numbers) + 1).padStart(4, '0');
  const file = path.join(dir, `${next}_${slug}.ts`);
  // 'wx': never overwrite a migration, even if two people race to create the same number.
  await fs.writeFile(file, TEMPLATE, { flag: 'wx' });
  return file;
}
