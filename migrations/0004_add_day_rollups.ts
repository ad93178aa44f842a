/**
 * Day rollups: `usage_rollups` rows with granularity `day` (bucket_start = UTC midnight), which the
 * writer maintains from now on alongside the minute and hour rows (src/db/rollups.ts). This
 * backfills them from the hour rows already there — per (UTC day, model, client key): the counters,
 * sums and latency histogram summed, the duration minimum and maximum taken — so a day row equals
 * the sum of its hour rows, as the writer keeps it. No schema change: granularity is free text.
 * `down` deletes the day rows. Frozen once shipped.
 */
import { PostgresAdapter, sql } from 'kysely';
import type { Kysely } from 'kysely';

/** Upper bounds 50 ms … 120 s plus one overflow bucket; as in 0002. */
const LATENCY_BUCKETS = 12;

const SUMMED = [
  'request_count',
  'success_count',
  'error_count',
  'cancelled_count',
  'stream_count',
  'duration_sum_ms',
  'duration_count',
  'ttfb_sum_ms',
  'ttfb_count',
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  ...Array.from({ length: LATENCY_BUCKETS }, (_, i) => `lat_${i}`),
];

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  // SQLite stores bucket_start as ISO-8601 text ('2026-11-27T13:00:00.000Z'), as the writer does.
  const day = pg
    ? sql`date_trunc('day', bucket_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`
    : sql`substr(bucket_start, 1, 10) || 'T00:00:00.000Z'`;
  const columns = ['granularity', 'bucket_start', 'model_name', 'client_key', 'duration_min_ms', 'duration_max_ms', ...SUMMED];
  const sums = SUMMED.map((c) => sql`sum(${sql.ref(c)})`);
  // Day rows written before this migration ran (none, unless it is re-run by hand) would be
  // counted twice: start from nothing.
  await sql`DELETE FROM usage_rollups WHERE granularity = 'day'`.execute(db);
  await sql`
    INSERT INTO usage_rollups (${sql.join(columns.map((c) => sql.ref(c)))})
    SELECT 'day', ${day}, model_name, client_key, min(duration_min_ms), max(duration_max_ms), ${sql.join(sums)}
    FROM usage_rollups WHERE granularity = 'hour'
    GROUP BY ${day}, model_name, client_key`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DELETE FROM usage_rollups WHERE granularity = 'day'`.execute(db);
}
