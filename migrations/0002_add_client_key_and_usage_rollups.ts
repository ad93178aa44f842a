/**
 * `request_logs.client_key` (the NAME of the client key a request used, never the key) and
 * `usage_rollups`: per-bucket, per-model, per-client-key aggregates that the writer maintains in
 * the same transaction as the raw rows, so /api/usage reads O(buckets) and history survives
 * raw-row retention. Frozen once shipped.
 */
import { PostgresAdapter } from 'kysely';
import type { Kysely } from 'kysely';

/** Upper bounds 50 ms … 120 s plus one overflow bucket; must match src/db/rollups.ts. */
const LATENCY_BUCKETS = 12;

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  const timestamp = pg ? 'timestamptz' : 'text';
  const big = pg ? 'bigint' : 'integer';

  await db.schema.alterTable('request_logs').addColumn('client_key', 'text').execute();
  await db.schema.createIndex('ix_request_logs_client_key').on('request_logs').column('client_key').execute();

  let table = db.schema
    .createTable('usage_rollups')
    .addColumn('granularity', 'text', (c) => c.notNull())
    .addColumn('bucket_start', timestamp, (c) => c.notNull())
    .addColumn('model_name', 'text', (c) => c.notNull())
    .addColumn('client_key', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('request_count', big, (c) => c.notNull().defaultTo(0))
    .addColumn('success_count', big, (c) => c.notNull().defaultTo(0))
    .addColumn('error_count', big, (c) => c.notNull().defaultTo(0))
    .addColumn('cancelled_count', big, (c) => c.notNull().defaultTo(0))
    .addColumn('stream_count', big, (c) => c.notNull().defaultTo(0))
    .addColumn('duration_sum_ms', big, (c) => c.notNull().defaultTo(0))
    .addColumn('duration_count', big, (c) => c.notNull().defaultTo(0))
    .addColumn('duration_min_ms', 'integer')
    .addColumn('duration_max_ms', 'integer')
    .addColumn('ttfb_sum_ms', big, (c) => c.notNull().defaultTo(0))
    .addColumn('ttfb_count', big, (c) => c.notNull().defaultTo(0))
    .addColumn('prompt_tokens', big, (c) => c.notNull().defaultTo(0))
    .addColumn('completion_tokens', big, (c) => c.notNull().defaultTo(0))
    .addColumn('total_tokens', big, (c) => c.notNull().defaultTo(0));
  for (let i = 0; i < LATENCY_BUCKETS; i++) table = table.addColumn(`lat_${i}`, big, (c) => c.notNull().defaultTo(0));
  await table
    .addPrimaryKeyConstraint('pk_usage_rollups', ['granularity', 'bucket_start', 'model_name', 'client_key'])
    .execute();
  // Window queries filter on granularity + time across all models; retention deletes by time.
  await db.schema.createIndex('ix_usage_rollups_granularity_bucket_start').on('usage_rollups').columns(['granularity', 'bucket_start']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('usage_rollups').execute();
  await db.schema.dropIndex('ix_request_logs_client_key').execute();
  await db.schema.alterTable('request_logs').dropColumn('client_key').execute();
}
