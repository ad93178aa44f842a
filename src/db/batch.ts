/**
 * One batch of log rows → one transaction: request_logs first (error_logs reference them), then
 * error_logs, then the optional `afterInsert` hook, all or nothing. Every INSERT is
 * `ON CONFLICT (id) DO NOTHING`, so a batch replayed from the spool after a partial failure (or a
 * commit whose acknowledgement was lost) never duplicates a row.
 */
import type { Kysely } from 'kysely';
import type { Dialect } from './dialect.ts';
import type { EncodedRows } from './rows.ts';
import { ERROR_LOG_COLUMNS, REQUEST_LOG_COLUMNS } from './schema.ts';
import type { Database } from './schema.ts';

/** Rows this transaction actually inserted (a replayed duplicate is not in here). */
export interface InsertedRows {
  readonly requests: readonly Record<string, unknown>[];
  readonly errors: readonly Record<string, unknown>[];
}

/**
 * Extension point for work that must commit together with the rows (usage rollups): `db` is bound
 * to the open transaction, after the inserts, on either dialect. It is loaded from a module (see
 * `AfterInsertModule`) because the SQLite writer runs in a worker thread and functions cannot
 * be posted to one.
 */
export type AfterInsert = (db: Kysely<Database>, dialect: Dialect, rows: InsertedRows) => Promise<void>;

/** Shape of a module named by `afterInsertModule` (a file URL or specifier). */
export interface AfterInsertModule {
  readonly afterInsert: AfterInsert;
}

/**
 * Bound-parameter limits: SQLite's SQLITE_MAX_VARIABLE_NUMBER (32766 since 3.32) and the
 * PostgreSQL wire protocol's Int16 parameter count (65535).
 */
export const MAX_PARAMS: Readonly<Record<Dialect, number>> = { sqlite: 32_766, postgres: 65_535 };

/**
 * Rows per INSERT statement: rows × columns must stay under the dialect's limit, and the statement
 * is compiled and serialised synchronously on the event loop (Kysely took ~6.5 ms for 500 rows of
 * request_logs, ~1.3 ms for 100), so batches go out as several statements of at most `cap` rows.
 */
export function rowsPerStatement(dialect: Dialect, columns: number, cap = 100): number {
  return Math.max(1, Math.min(cap, Math.floor(MAX_PARAMS[dialect] / Math.max(1, columns))));
}

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

export async function loadAfterInsert(specifier: string | undefined): Promise<AfterInsert | undefined> {
  if (!specifier) return undefined;
  const mod = (await import(specifier)) as Partial<AfterInsertModule>;
  if (typeof mod.afterInsert !== 'function') throw new Error(`${specifier} does not export afterInsert()`);
  return mod.afterInsert;
}

interface Inserted {
  /** Ids of the new rows, when the hook needs them (RETURNING costs a little). */
  readonly ids: Set<string> | null;
  readonly count: number;
}

async function insertInto(
  trx: Kysely<Database>,
  dialect: Dialect,
  table: keyof Database,
  rows: readonly Record<string, unknown>[],
  wantIds: boolean,
): Promise<Inserted> {
  const ids = wantIds ? new Set<string>() : null;
  let count = 0;
  const first = rows[0];
  if (!first) return { ids, count };
  for (const chunk of chunks(rows, rowsPerStatement(dialect, Object.keys(first).length))) {
    // The tables' row types differ; the rows were produced by the matching encoder (rows.ts).
    const query = trx
      .insertInto(table)
      .values(chunk as never)
      .onConflict((oc) => oc.column('id').doNothing());
    if (ids) {
      for (const row of await query.returning('id').execute()) ids.add(String(row.id));
      count = ids.size;
    } else {
      const [result] = await query.execute();
      count += Number(result?.numInsertedOrUpdatedRows ?? 0);
    }
  }
  return { ids, count };
}

/**
 * Inserts `rows` in one transaction (nothing is committed if any statement or the hook fails);
 * resolves with how many request rows were new.
 */
export async function insertBatch(
  db: Kysely<Database>,
  dialect: Dialect,
  rows: EncodedRows,
  afterInsert?: AfterInsert,
): Promise<number> {
  if (rows.requests.length === 0) return 0;
  return db.transaction().execute(async (trx) => {
    const req = await insertInto(trx, dialect, 'request_logs', rows.requests, afterInsert !== undefined);
    const err = await insertInto(trx, dialect, 'error_logs', rows.errors, afterInsert !== undefined);
    if (afterInsert && req.ids && err.ids) {
      const reqIds = req.ids;
      const errIds = err.ids;
      await afterInsert(trx, dialect, {
        requests: rows.requests.filter((r) => reqIds.has(String(r.id))),
        errors: rows.errors.filter((r) => errIds.has(String(r.id))),
      });
    }
    return req.count;
  });
}

/** Columns every insert writes, in a fixed order (created_at is the database's clock). */
export const REQUEST_INSERT_COLUMNS: readonly string[] = Object.keys(REQUEST_LOG_COLUMNS).filter((c) => c !== 'created_at');
export const ERROR_INSERT_COLUMNS: readonly string[] = Object.keys(ERROR_LOG_COLUMNS).filter((c) => c !== 'created_at');
