/**
 * Indexes for `/api/logs` on millions of rows. The list is read newest first, keyset-paginated on
 * (request_time, id), optionally filtered by model or outcome. With an index that ends in
 * (request_time, id) each of those reads walks the index in order and stops after one page;
 * without it, SQLite sorted every row of the filter (all errors, or every success) and PostgreSQL
 * could not turn the cursor into an index bound.
 *
 * The new indexes replace the ones they extend (a composite index serves every query its leading
 * columns served), so a write updates fewer indexes than before: request_time → (request_time, id);
 * outcome → (outcome, request_time, id); model_name and (model_name, request_time) →
 * (model_name, request_time, id). Frozen once shipped.
 */
import type { Kysely } from 'kysely';

const ADDED: Record<string, string[]> = {
  ix_request_logs_request_time_id: ['request_time', 'id'],
  ix_request_logs_outcome_request_time_id: ['outcome', 'request_time', 'id'],
  ix_request_logs_model_name_request_time_id: ['model_name', 'request_time', 'id'],
};

/** What 0001 created and this migration supersedes; restored by `down`. */
const REPLACED: Record<string, string[]> = {
  ix_request_logs_request_time: ['request_time'],
  ix_request_logs_outcome: ['outcome'],
  ix_request_logs_model_name: ['model_name'],
  ix_request_logs_model_name_request_time: ['model_name', 'request_time'],
};

async function swap(db: Kysely<any>, create: Record<string, string[]>, drop: Record<string, string[]>): Promise<void> {
  // Created before the old ones go, so no query is ever left without an index.
  for (const [name, columns] of Object.entries(create)) {
    await db.schema.createIndex(name).on('request_logs').columns(columns).execute();
  }
  for (const name of Object.keys(drop)) await db.schema.dropIndex(name).execute();
}

export async function up(db: Kysely<any>): Promise<void> {
  await swap(db, ADDED, REPLACED);
}

export async function down(db: Kysely<any>): Promise<void> {
  await swap(db, REPLACED, ADDED);
}
