/**
 * What the database itself says about its schema, in one shape for both dialects, so the
 * migration test can compare it with `src/db/schema.ts`.
 */
import { copyFile, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Dialect } from '../../src/db/dialect.ts';
import { MIGRATIONS_DIR } from '../../src/db/migrator.ts';

export interface ColumnInfo {
  readonly type: string;
  readonly nullable: boolean;
  readonly hasDefault: boolean;
}

export interface ForeignKeyInfo {
  readonly column: string;
  readonly references: string;
  readonly onDelete: string;
}

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Non-internal tables → column name → type as the catalog spells it. */
export async function tableColumns(
  db: Kysely<any>,
): Promise<Record<string, Record<string, ColumnInfo>>> {
  const out: Record<string, Record<string, ColumnInfo>> = {};
  for (const table of await db.introspection.getTables()) {
    const columns: Record<string, ColumnInfo> = {};
    for (const c of table.columns) {
      columns[c.name] = {
        type: c.dataType.toLowerCase(),
        nullable: c.isNullable,
        hasDefault: c.hasDefaultValue,
      };
    }
    out[table.name] = columns;
  }
  return out;
}

/** Index name → its columns in order; primary-key indexes left out. */
export async function tableIndexes(
  db: Kysely<any>,
  dialect: Dialect,
  table: string,
): Promise<Record<string, string[]>> {
  const rows =
    dialect === 'postgres'
      ? (
          await sql<{ index_name: string; column_name: string }>`
            select i.relname as index_name, a.attname::text as column_name
            from pg_index x
            join pg_class i on i.oid = x.indexrelid
            join pg_class t on t.oid = x.indrelid
            join pg_namespace n on n.oid = t.relnamespace and n.nspname = current_schema()
            cross join lateral unnest(x.indkey) with ordinality as k(attnum, ord)
            join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum
            where t.relname = ${table} and not x.indisprimary
            order by i.relname, k.ord`.execute(db)
        ).rows
      : (
          await sql<{ index_name: string; column_name: string }>`
            select il.name as index_name, ii.name as column_name
            from pragma_index_list(${table}) il
            join pragma_index_info(il.name) ii
            where il.origin = 'c'
            order by il.name, ii.seqno`.execute(db)
        ).rows;
  const out: Record<string, string[]> = {};
  for (const row of rows) (out[row.index_name] ??= []).push(row.column_name);
  return out;
}

export async function foreignKeys(
  db: Kysely<any>,
  dialect: Dialect,
  table: string,
): Promise<ForeignKeyInfo[]> {
  if (dialect === 'sqlite') {
    const { rows } = await sql<{ table: string; from: string; to: string; on_delete: string }>`
      select "table", "from", "to", on_delete from pragma_foreign_key_list(${table})`.execute(db);
    return rows.map((r) => ({
      column: r.from,
      references: `${r.table}.${r.to}`,
      onDelete: r.on_delete.toLowerCase(),
    }));
  }
  const { rows } = await sql<{ column: string; references: string; action: string }>`
    select a.attname::text as column, rt.relname || '.' || ra.attname as references,
           c.confdeltype as action
    from pg_constraint c
    join pg_class t on t.oid = c.conrelid
    join pg_class rt on rt.oid = c.confrelid
    join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
    join pg_attribute ra on ra.attrelid = c.confrelid and ra.attnum = c.confkey[1]
    where c.contype = 'f' and t.relname = ${table}`.execute(db);
  const actions: Record<string, string> = {
    a: 'no action', r: 'restrict', c: 'cascade', n: 'set null', d: 'set default',
  };
  return rows.map((r) => ({
    column: r.column,
    references: r.references,
    onDelete: actions[r.action] ?? r.action,
  }));
}

/**
 * A scratch copy of `migrations/` for tests that add files. Its parent links the project's
 * node_modules and declares `"type": "module"` (otherwise tsx compiles the copies as CommonJS and
 * they get kysely's CJS build), so the copies share the app's kysely instance: the dialect check
 * in 0001 is an `instanceof`.
 */
export async function copyMigrations(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'yallmp-migrations-'));
  const dir = path.join(base, 'migrations');
  await mkdir(dir);
  await symlink(path.join(PROJECT_ROOT, 'node_modules'), path.join(base, 'node_modules'), 'dir');
  await writeFile(path.join(base, 'package.json'), '{ "type": "module" }\n');
  for (const file of await readdir(MIGRATIONS_DIR)) {
    if (/^\d{4}_.*\.ts$/.test(file)) await copyFile(path.join(MIGRATIONS_DIR, file), path.join(dir, file));
  }
  return { dir, remove: () => rm(base, { recursive: true, force: true }) };
}
