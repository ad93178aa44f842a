/**
 * The migrated schema against `src/db/schema.ts`, and values through the dialect codec, run
 * identically on SQLite and on a real PostgreSQL (architecture invariant 6).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { decodeRow, encodeErrorLog, encodeRequestLog, sqlType } from '../src/db/dialect.ts';
import type { Dialect } from '../src/db/dialect.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { ERROR_LOG_COLUMNS, REQUEST_LOG_COLUMNS, TABLE_COLUMNS, TABLE_INDEXES } from '../src/db/schema.ts';
import type { RequestLogInput, RequestLogRow } from '../src/db/schema.ts';
import { foreignKeys, tableColumns, tableIndexes } from './helpers/db-introspect.ts';
import type { ColumnInfo } from './helpers/db-introspect.ts';
import { withDialect } from './helpers/db.ts';
import type { TestDb } from './helpers/db.ts';

const pgUrl = inject('pgUrl');
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
/** How pg_catalog spells the DDL types of dialect.ts. */
const PG_TYPE_NAMES: Record<string, string> = { boolean: 'bool', integer: 'int4', bigint: 'int8' };

describe.each(['sqlite', 'postgres'] as const)('schema on %s', (dialect: Dialect) => {
  let t: TestDb;
  beforeEach(async () => {
    t = await withDialect(dialect, pgUrl);
    await migrateToLatest(t.db, dialect);
  });
  afterEach(async () => {
    await t.close();
  });

  it('a migrated database has exactly the columns of the Database types', async () => {
    const expected: Record<string, Record<string, ColumnInfo>> = {};
    for (const [table, columns] of Object.entries(TABLE_COLUMNS)) {
      const cols: Record<string, ColumnInfo> = {};
      for (const [name, spec] of Object.entries(columns)) {
        const ddl = sqlType(dialect, spec.kind);
        cols[name] = {
          type: dialect === 'postgres' ? (PG_TYPE_NAMES[ddl] ?? ddl) : ddl,
          nullable: spec.nullable,
          hasDefault: 'hasDefault' in spec && spec.hasDefault,
        };
      }
      expected[table] = cols;
    }
    expect(await tableColumns(t.db)).toEqual(expected);
  });

  it('has the expected indexes and an ON DELETE SET NULL foreign key that works', async () => {
    for (const [table, indexes] of Object.entries(TABLE_INDEXES)) {
      expect(await tableIndexes(t.db, dialect, table)).toEqual(indexes);
    }
    expect(await foreignKeys(t.db, dialect, 'error_logs')).toEqual([
      { column: 'request_log_id', references: 'request_logs.id', onDelete: 'set null' },
    ]);

    const requestId = randomUUID();
    const errorId = randomUUID();
    await t.db
      .insertInto('request_logs')
      .values(
        encodeRequestLog(dialect, {
          id: requestId,
          request_time: new Date(),
          model_name: 'm',
          outcome: 'error',
        }),
      )
      .execute();
    await t.db
      .insertInto('error_logs')
      .values(
        encodeErrorLog(dialect, {
          id: errorId,
          timestamp: new Date(),
          error_type: 'timeout',
          error_message: 'upstream timed out',
          request_log_id: requestId,
          extra_context: { attempt: 2 },
        }),
      )
      .execute();
    await t.db.deleteFrom('request_logs').where('id', '=', requestId).execute();
    const row = await t.db
      .selectFrom('error_logs')
      .selectAll()
      .where('id', '=', errorId)
      .executeTakeFirstOrThrow();
    const decoded = decodeRow(dialect, ERROR_LOG_COLUMNS, row);
    expect(decoded.request_log_id).toBeNull();
    expect(decoded.extra_context).toEqual({ attempt: 2 });
    expect(decoded.created_at).toMatch(ISO_UTC);
  });

  it('round-trips values through the dialect encoder identically on both dialects', async () => {
    // NUL is stripped and lone surrogates become U+FFFD on BOTH dialects (see dialect.ts).
    const raw = 'naïve café 日本語 עברית 🚀 "q" \\ nul:\u0000: lone:\ud800:';
    const clean = 'naïve café 日本語 עברית 🚀 "q" \\ nul:: lone:\ufffd:';
    const id = randomUUID();
    const bodyWith = (content: string) => ({
      messages: [{ role: 'user', content }],
      n: 1,
      mix: [1, 2.5, null, true, 'x', 1e20],
      empty: {},
    });
    const input: RequestLogInput = {
      id,
      request_time: new Date('2026-01-07T12:34:56.789Z'),
      model_name: 'gpt-4\u0000o',
      is_stream: true,
      path: '/v1/chat/completions',
      method: 'POST',
      query: '',
      headers: { 'x-odd\u0000key': raw },
      body: bodyWith(raw),
      route: ['a', 'b'],
      backend_attempts: [],
      stream_chunks: ['data: {"x":1}\n\n'],
      usage_stats: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
      outcome: 'success',
      duration_ms: 12.6,
      status_code: 200,
      backend_name: 'b',
      finish_reason: 'stop',
      prompt_tokens: 3,
      completion_tokens: 4,
      total_tokens: 7,
      ttfb_ms: 5,
      client_key: 'team-a',
    };
    const textBody = { ...input, id: randomUUID(), is_stream: false, body: `plain ${raw}` };
    await t.db
      .insertInto('request_logs')
      .values([encodeRequestLog(dialect, input), encodeRequestLog(dialect, textBody)])
      .execute();

    const rows = await t.db.selectFrom('request_logs').selectAll().orderBy('is_stream', 'desc').execute();
    const [first, second] = rows.map((r) => decodeRow(dialect, REQUEST_LOG_COLUMNS, r));
    const expected: RequestLogRow = {
      ...input,
      request_time: '2026-01-07T12:34:56.789Z',
      model_name: 'gpt-4o',
      headers: { 'x-oddkey': clean },
      body: bodyWith(clean),
      errors: null,
      duration_ms: 13,
      created_at: expect.stringMatching(ISO_UTC) as unknown as string,
    } as RequestLogRow;
    expect(first).toEqual(expected);
    expect(second).toEqual({ ...expected, id: textBody.id, is_stream: false, body: `plain ${clean}` });
  });
});
