/**
 * The writer's `afterInsert` hook (see batch.ts): folds the rows a batch actually inserted into
 * `usage_rollups`, inside the same transaction, so a replayed duplicate is never counted twice
 * and a rolled-back batch leaves no partial aggregates. Loaded by module path because the SQLite
 * writer runs it inside its worker thread.
 */
import { CompiledQuery, type Kysely } from 'kysely';
import type { InsertedRows } from './batch.ts';
import type { Dialect } from './dialect.ts';
import { ROLLUP_ROWS_PER_STATEMENT, rollupDeltas, rollupParams, rollupUpsertSql, type RollupSource } from './rollups.ts';
import type { Database } from './schema.ts';

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Encoded rows are dialect-shaped (0/1 vs boolean, text vs Date); rollups need one shape. */
function toSource(row: Record<string, unknown>): RollupSource {
  const time = row.request_time;
  return {
    request_time: time instanceof Date ? time.toISOString() : String(time),
    model_name: String(row.model_name),
    client_key: row.client_key === null || row.client_key === undefined ? null : String(row.client_key),
    outcome: String(row.outcome),
    is_stream: row.is_stream === true || row.is_stream === 1 || row.is_stream === '1',
    duration_ms: num(row.duration_ms),
    ttfb_ms: num(row.ttfb_ms),
    prompt_tokens: num(row.prompt_tokens),
    completion_tokens: num(row.completion_tokens),
    total_tokens: num(row.total_tokens),
  };
}

export async function afterInsert(db: Kysely<Database>, dialect: Dialect, rows: InsertedRows): Promise<void> {
  if (rows.requests.length === 0) return;
  const deltas = rollupDeltas(rows.requests.map(toSource));
  // SQLite runs in-process: a single-row upsert per delta costs no round trips, and its text never
  // changes, so the writer thread keeps it prepared (a VALUES list of a new length each batch was
  // compiled each time). PostgreSQL gets VALUES lists: one round trip for up to 1,000 deltas.
  const perStatement = dialect === 'sqlite' ? 1 : ROLLUP_ROWS_PER_STATEMENT;
  for (let i = 0; i < deltas.length; i += perStatement) {
    const part = deltas.slice(i, i + perStatement);
    await db.executeQuery(CompiledQuery.raw(rollupUpsertSql(dialect, part.length), part.flatMap(rollupParams)));
  }
}
