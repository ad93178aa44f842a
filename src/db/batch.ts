/**
 * One batch of log rows → one transaction: request_logs first (error_logs reference them), then
 * error_logs, then the optional `afterInsert` hook, all or nothing. Every INSERT is
 * `ON CONFLICT (id) DO NOTHING`, so a batch replayed from the spool after a partial failure (or a
 * commit whose acknowledgement was lost) never duplicates a row.
 */
import { CompiledQuery } from 'kysely';
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
 * Rows per INSERT statement: rows × columns must stay under the dialect's limit, and an in-process
 * writer builds and serialises the statement synchronously on the event loop, so batches go out as
 * several statements of at most `cap` rows (a writer thread passes a larger cap).
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

/** The rows' common column list, or null if they differ (or hold `undefined`, i.e. DEFAULT). */
function uniformColumns(rows: readonly Record<string, unknown>[]): string[] | null {
  const columns = Object.keys(rows[0]!);
  for (const row of rows) {
    let n = 0;
    for (const c in row) {
      if (row[c] === undefined || c !== columns[n]) return null;
      n++;
    }
    if (n !== columns.length) return null;
  }
  return columns;
}

const statementCache = new Map<string, string>();

/**
 * `insert into "t" ("a", "b") values ($1, $2), ($3, $4) on conflict ("id") do nothing`, as Kysely
 * would compile it, built directly: compiling a 100-row INSERT through Kysely's query tree cost
 * ~0.8 ms of CPU, the text costs a few µs (and is cached per shape).
 */
function insertSql(dialect: Dialect, table: string, columns: readonly string[], rows: number, returning: boolean): string {
  const key = `${dialect}|${table}|${rows}|${returning ? 1 : 0}|${columns.join(',')}`;
  let text = statementCache.get(key);
  if (text === undefined) {
    const tuples: string[] = [];
    let p = 1;
    for (let r = 0; r < rows; r++) {
      const marks: string[] = [];
      for (let c = 0; c < columns.length; c++) marks.push(dialect === 'postgres' ? `$${p++}` : '?');
      tuples.push(`(${marks.join(', ')})`);
    }
    text = `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values ${tuples.join(', ')} on conflict ("id") do nothing${returning ? ' returning "id"' : ''}`;
    // Batches come in a handful of shapes (full chunks, one remainder); a replay's bisection adds more.
    if (statementCache.size >= 64) statementCache.clear();
    statementCache.set(key, text);
  }
  return text;
}

export interface InsertBatchOptions {
  /**
   * Upper bound on rows per INSERT statement (default 100, see `rowsPerStatement`); a writer thread,
   * whose compiling blocks no event loop, may send larger statements and save round trips.
   */
  readonly maxRowsPerStatement?: number;
}

async function insertInto(
  trx: Kysely<Database>,
  dialect: Dialect,
  table: keyof Database,
  rows: readonly Record<string, unknown>[],
  wantIds: boolean,
  cap: number | undefined,
): Promise<Inserted> {
  const ids = wantIds ? new Set<string>() : null;
  let count = 0;
  const first = rows[0];
  if (!first) return { ids, count };
  const columns = uniformColumns(rows);
  for (const chunk of chunks(rows, rowsPerStatement(dialect, Object.keys(first).length, cap))) {
    let result;
    if (columns) {
      const params: unknown[] = [];
      for (const row of chunk) for (const c of columns) params.push(row[c]);
      result = await trx.executeQuery<{ id: unknown }>(CompiledQuery.raw(insertSql(dialect, table, columns, chunk.length, ids !== null), params));
    } else {
      // Rows of different shapes: Kysely fills the gaps with DEFAULT.
      // The tables' row types differ; the rows were produced by the matching encoder (rows.ts).
      const query = trx
        .insertInto(table)
        .values(chunk as never)
        .onConflict((oc) => oc.column('id').doNothing());
      result = await trx.executeQuery<{ id: unknown }>((ids ? query.returning('id') : query).compile());
    }
    if (ids) {
      for (const row of result.rows) ids.add(String(row.id));
      count = ids.size;
    } else count += Number(result.numAffectedRows ?? 0n);
  }
  return { ids, count };
}

/** What the INSERTs of one batch did. */
export interface RowsInserted {
  /** New request rows. */
  readonly count: number;
  /** The rows that were new, when asked for (the afterInsert hook's input). */
  readonly fresh: InsertedRows | null;
}

/**
 * The INSERTs of `insertBatch` on an open transaction: request_logs, then error_logs. `wantFresh`
 * adds RETURNING, to tell the new rows from replayed duplicates.
 */
export async function insertRows(
  trx: Kysely<Database>,
  dialect: Dialect,
  rows: EncodedRows,
  wantFresh: boolean,
  opts: InsertBatchOptions = {},
): Promise<RowsInserted> {
  const req = await insertInto(trx, dialect, 'request_logs', rows.requests, wantFresh, opts.maxRowsPerStatement);
  const err = await insertInto(trx, dialect, 'error_logs', rows.errors, wantFresh, opts.maxRowsPerStatement);
  if (!req.ids || !err.ids) return { count: req.count, fresh: null };
  const reqIds = req.ids;
  const errIds = err.ids;
  return {
    count: req.count,
    fresh: {
      requests: rows.requests.filter((r) => reqIds.has(String(r.id))),
      errors: rows.errors.filter((r) => errIds.has(String(r.id))),
    },
  };
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
  opts: InsertBatchOptions = {},
): Promise<number> {
  if (rows.requests.length === 0) return 0;
  return db.transaction().execute(async (trx) => {
    const inserted = await insertRows(trx, dialect, rows, afterInsert !== undefined, opts);
    if (afterInsert && inserted.fresh) await afterInsert(trx, dialect, inserted.fresh);
    return inserted.count;
  });
}

/** Columns every insert writes, in a fixed order (created_at is the database's clock). */
export const REQUEST_INSERT_COLUMNS: readonly string[] = Object.keys(REQUEST_LOG_COLUMNS).filter((c) => c !== 'created_at');
export const ERROR_INSERT_COLUMNS: readonly string[] = Object.keys(ERROR_LOG_COLUMNS).filter((c) => c !== 'created_at');
