/**
 * The seed's `request_logs` and `error_logs` (docs/database.md), plus typed analytics columns on
 * request_logs. Frozen once shipped: change the schema with a new migration.
 *
 * Types per dialect mirror src/db/dialect.ts (migrations may not import the app): SQLite keeps
 * uuids, JSON and ISO-8601 UTC timestamps as text and booleans as 0/1.
 */
import { PostgresAdapter, SqliteAdapter, sql } from 'kysely';
import type { Kysely, RawBuilder } from 'kysely';

interface Types {
  uuid: 'uuid' | 'text';
  json: 'jsonb' | 'text';
  timestamp: 'timestamptz' | 'text';
  boolean: 'boolean' | 'integer';
  now: RawBuilder<unknown>;
  false: RawBuilder<unknown>;
}

function typesFor(db: Kysely<any>): Types {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof PostgresAdapter) {
    return {
      uuid: 'uuid',
      json: 'jsonb',
      timestamp: 'timestamptz',
      boolean: 'boolean',
      now: sql`now()`,
      false: sql`false`,
    };
  }
  if (adapter instanceof SqliteAdapter) {
    return {
      uuid: 'text',
      json: 'text',
      timestamp: 'text',
      boolean: 'integer',
      // Same text as Date.prototype.toISOString(), so stored timestamps sort and compare as text.
      now: sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`,
      false: sql`0`,
    };
  }
  throw new Error(`unsupported dialect adapter: ${adapter.constructor.name}`);
}

export async function up(db: Kysely<any>): Promise<void> {
  const t = typesFor(db);

  // `id ... notNull()` is spelled out because SQLite lets a non-INTEGER primary key hold NULL.
  await db.schema
    .createTable('request_logs')
    .addColumn('id', t.uuid, (c) => c.primaryKey().notNull())
    .addColumn('request_time', t.timestamp, (c) => c.notNull())
    .addColumn('model_name', 'text', (c) => c.notNull())
    .addColumn('is_stream', t.boolean, (c) => c.notNull().defaultTo(t.false))
    .addColumn('path', 'text')
    .addColumn('method', 'text')
    .addColumn('query', 'text')
    .addColumn('headers', t.json)
    .addColumn('body', t.json)
    .addColumn('route', t.json)
    .addColumn('backend_attempts', t.json)
    .addColumn('stream_chunks', t.json)
    .addColumn('errors', t.json)
    .addColumn('usage_stats', t.json)
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('duration_ms', 'integer')
    .addColumn('created_at', t.timestamp, (c) => c.notNull().defaultTo(t.now))
    .addColumn('status_code', 'integer')
    .addColumn('backend_name', 'text')
    .addColumn('finish_reason', 'text')
    .addColumn('prompt_tokens', 'integer')
    .addColumn('completion_tokens', 'integer')
    .addColumn('total_tokens', 'integer')
    .addColumn('ttfb_ms', 'integer')
    .execute();

  const requestIndexes: Record<string, string[]> = {
    ix_request_logs_request_time: ['request_time'],
    ix_request_logs_model_name: ['model_name'],
    ix_request_logs_outcome: ['outcome'],
    ix_request_logs_created_at: ['created_at'],
    // Per-model usage over a time window, the common analytics query.
    ix_request_logs_model_name_request_time: ['model_name', 'request_time'],
  };
  for (const [name, columns] of Object.entries(requestIndexes)) {
    await db.schema.createIndex(name).on('request_logs').columns(columns).execute();
  }

  await db.schema
    .createTable('error_logs')
    .addColumn('id', t.uuid, (c) => c.primaryKey().notNull())
    .addColumn('timestamp', t.timestamp, (c) => c.notNull())
    .addColumn('model_name', 'text')
    .addColumn('error_type', 'text', (c) => c.notNull())
    .addColumn('error_message', 'text', (c) => c.notNull())
    .addColumn('backend_name', 'text')
    .addColumn('http_status', 'integer')
    .addColumn('request_path', 'text')
    .addColumn('request_log_id', t.uuid, (c) =>
      c.references('request_logs.id').onDelete('set null'),
    )
    .addColumn('extra_context', t.json)
    .addColumn('created_at', t.timestamp, (c) => c.notNull().defaultTo(t.now))
    .execute();

  const errorIndexes: Record<string, string[]> = {
    ix_error_logs_timestamp: ['timestamp'],
    ix_error_logs_model_name: ['model_name'],
    ix_error_logs_error_type: ['error_type'],
    ix_error_logs_created_at: ['created_at'],
    // Neither dialect indexes a foreign key by itself; SET NULL on delete would scan the table.
    ix_error_logs_request_log_id: ['request_log_id'],
  };
  for (const [name, columns] of Object.entries(errorIndexes)) {
    await db.schema.createIndex(name).on('error_logs').columns(columns).execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  // error_logs references request_logs, so it goes first; indexes go with their tables.
  await db.schema.dropTable('error_logs').execute();
  await db.schema.dropTable('request_logs').execute();
}
