/**
 * Retention: deletes raw rows and rollups older than configured, in small batches with a pause
 * between them, so a large backlog never holds the database (or, for SQLite, the event loop)
 * for long. Rollups are kept separately, so usage history outlives the raw rows.
 *
 * Hour and day rollups share `hourRollupDays`, and their cutoff is moved back to a UTC midnight:
 * whole days go at once, so every day row that is left still equals the sum of its hour rows
 * (usage-repo.ts mixes the two in one window).
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { sql, type Kysely } from 'kysely';
import type { DatabaseConfig } from '../config/types.ts';
import type { Dialect } from './dialect.ts';
import type { Granularity } from './rollups.ts';
import type { Database } from './schema.ts';

/** Rows per DELETE: a few milliseconds of work each on either dialect. */
export const RETENTION_BATCH = 500;
const DAY_MS = 86_400_000;

export interface RetentionResult {
  requestLogs: number;
  errorLogs: number;
  minuteRollups: number;
  hourRollups: number;
  dayRollups: number;
}

type Table = 'request_logs' | 'error_logs' | 'usage_rollups';

/** One pass over every table; returns how many rows each lost. */
export async function applyRetention(
  db: Kysely<Database>,
  dialect: Dialect,
  retention: DatabaseConfig['retention'],
  now = Date.now(),
): Promise<RetentionResult> {
  const cutoff = (days: number) => (days > 0 ? new Date(now - days * DAY_MS).toISOString() : null);
  const raw = cutoff(retention.rawDays);
  const minute = cutoff(retention.minuteRollupDays);
  const hour = cutoff(retention.hourRollupDays);
  const wholeDays = hour === null ? null : new Date(Math.floor(Date.parse(hour) / DAY_MS) * DAY_MS).toISOString();
  return {
    // error_logs first: deleting a request row would otherwise update its error rows (SET NULL).
    errorLogs: raw ? await deleteOlder(db, dialect, 'error_logs', 'timestamp', raw) : 0,
    requestLogs: raw ? await deleteOlder(db, dialect, 'request_logs', 'request_time', raw) : 0,
    minuteRollups: minute ? await deleteOlder(db, dialect, 'usage_rollups', 'bucket_start', minute, 'minute') : 0,
    hourRollups: wholeDays ? await deleteOlder(db, dialect, 'usage_rollups', 'bucket_start', wholeDays, 'hour') : 0,
    dayRollups: wholeDays ? await deleteOlder(db, dialect, 'usage_rollups', 'bucket_start', wholeDays, 'day') : 0,
  };
}

async function deleteOlder(
  db: Kysely<Database>,
  dialect: Dialect,
  table: Table,
  column: string,
  before: string,
  granularity?: Granularity,
): Promise<number> {
  const ts = dialect === 'postgres' ? sql`${before}::timestamptz` : sql`${before}`;
  const only = granularity ? sql`AND granularity = ${granularity}` : sql``;
  // usage_rollups has no single-column key: address its rows by their identity columns.
  const rollup = table === 'usage_rollups';
  const key = rollup ? sql`(granularity, bucket_start, model_name, client_key)` : sql`id`;
  const cols = rollup ? sql`granularity, bucket_start, model_name, client_key` : sql`id`;
  let total = 0;
  for (;;) {
    const result = await sql`
      DELETE FROM ${sql.table(table)} WHERE ${key} IN (
        SELECT ${cols} FROM ${sql.table(table)} WHERE ${sql.ref(column)} < ${ts} ${only} LIMIT ${RETENTION_BATCH}
      )`.execute(db);
    const n = Number(result.numAffectedRows ?? 0);
    total += n;
    if (n < RETENTION_BATCH) return total;
    // Let requests (and the writer) in between batches.
    await yieldToLoop();
  }
}
