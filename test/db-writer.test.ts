/**
 * The database writer on SQLite (worker thread) and a real PostgreSQL (pool): rows as mapped,
 * batching, the spool (queue overflow, failed writes, leftovers of an earlier run), idempotent
 * replay, poison rows, and what happens when even the spool fails.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { ERROR_INSERT_COLUMNS, REQUEST_INSERT_COLUMNS } from '../src/db/batch.ts';
import type { Dialect } from '../src/db/dialect.ts';
import { decodeRow, encodeErrorLog, encodeRequestLog } from '../src/db/dialect.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { encodeRecordRows, encodeRecordValues, errorLogId, recordToRows } from '../src/db/rows.ts';
import { ERROR_LOG_COLUMNS, REQUEST_LOG_COLUMNS } from '../src/db/schema.ts';
import type { BatchStore } from '../src/db/store.ts';
import { createDbWriter } from '../src/db/writer.ts';
import type { DbWriter, DbWriterOptions } from '../src/db/writer.ts';
import { createHeaderSanitizer } from '../src/logging/sanitize.ts';
import type { RecordedError, RequestRecord } from '../src/logging/types.ts';
import { withDialect } from './helpers/db.ts';
import type { TestDb } from './helpers/db.ts';
import { testLogger } from './helpers/proxy.ts';
import { chatRecord } from './helpers/records.ts';

const pgUrl = inject('pgUrl');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
let seq = 0;

function record(over: Partial<RequestRecord> = {}): RequestRecord {
  return chatRecord(seq++, { route: ['gpt-4o-mini', 'backup'], ...over });
}

const error503: RecordedError = {
  time: '2026-01-07T12:00:01.000Z',
  type: 'http_retryable',
  message: 'gpt-4o-mini returned retryable status 503',
  backend: 'gpt-4o-mini',
  httpStatus: 503,
  context: { url: 'http://up/v1/chat/completions', attempt: 1, body: '{"error":"busy"}' },
};

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'yallmp-writer-'));
  dirs.push(d);
  return d;
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const segments = (dir: string): string[] => {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return [];
  }
};

describe('recordToRows', () => {
  it('maps every column, re-masks secrets and derives stable error ids', () => {
    const r = record({
      isStream: true,
      streamChunks: ['data: {"a":1}\n\n'],
      streamChunksDropped: 3,
      errors: [error503],
      attempts: [
        { backend: 'gpt-4o-mini', attempt: 1, url: 'http://u:pw@up/v1?key=abcdefghijkl', status: 503, durationMs: 9, ttfbMs: 8, error: 'busy', errorType: 'http_retryable', responseHeaders: null, responseBody: '{"error":"busy"}' },
      ],
      usage: { input_tokens: 3, output_tokens: 4, total_tokens: 7 },
    });
    const { request, errors } = recordToRows(r, createHeaderSanitizer());
    expect(request).toEqual({
      id: r.id,
      request_time: r.requestTime,
      model_name: 'gpt-4o-mini',
      is_stream: true,
      path: '/v1/chat/completions',
      method: 'POST',
      query: '',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-****' },
      body: r.body,
      route: ['gpt-4o-mini', 'backup'],
      backend_attempts: [
        { backend: 'gpt-4o-mini', attempt: 1, url: 'http://u:****@up/v1?key=abc****', status: 503, duration_ms: 9, ttfb_ms: 8, error: 'busy', error_type: 'http_retryable', response_headers: null, response_body: '{"error":"busy"}' },
      ],
      stream_chunks: ['data: {"a":1}\n\n', { _truncated: true, _dropped_chunks: 3 }],
      errors: [{ time: error503.time, type: 'http_retryable', message: error503.message, backend: 'gpt-4o-mini', http_status: 503, context: error503.context }],
      usage_stats: { input_tokens: 3, output_tokens: 4, total_tokens: 7 },
      outcome: 'success',
      duration_ms: 870,
      status_code: 200,
      backend_name: 'gpt-4o-mini',
      finish_reason: 'stop',
      prompt_tokens: 3,
      completion_tokens: 4,
      total_tokens: 7,
      ttfb_ms: 120,
      client_key: null,
    });
    expect(errors).toEqual([
      {
        id: errorLogId(r.id, 0),
        timestamp: error503.time,
        model_name: 'gpt-4o-mini',
        error_type: 'http_retryable',
        error_message: error503.message,
        backend_name: 'gpt-4o-mini',
        http_status: 503,
        request_path: '/v1/chat/completions',
        request_log_id: r.id,
        extra_context: error503.context,
      },
    ]);
    expect(errorLogId(r.id, 0)).toMatch(UUID);
    expect(errorLogId(r.id, 0)).toBe(errorLogId(r.id, 0));
    expect(errorLogId(r.id, 1)).not.toBe(errorLogId(r.id, 0));
    expect(recordToRows(record()).request.stream_chunks).toBeNull();
  });

  it("encodes exactly as the dialect codec does, NUL and lone surrogates included", () => {
    const tricky = record({
      model: 'gpt\u0000x',
      path: '/v1/\uD800chat',
      headers: { 'x-a': 'a\u0000b' },
      body: { text: 'lone \uDC00, a literal \\u0000 and 😀', 'k\u0000': [1, '\uD83D'] },
      streamChunks: ['data: \u0000\n\n'],
      errors: [{ ...error503, message: 'm\u0000', context: { s: '\uD83D' } }],
    });
    for (const dialect of ['sqlite', 'postgres'] as const) {
      for (const r of [record({ errors: [error503] }), tricky]) {
        const rows = recordToRows(r);
        expect(encodeRecordRows(dialect, rows)).toEqual({
          requests: [encodeRequestLog(dialect, rows.request)],
          errors: rows.errors.map((e) => encodeErrorLog(dialect, e)),
        });
        // The value arrays the SQLite thread binds hold the same values, in insert-column order.
        const objects = encodeRecordRows(dialect, rows);
        expect(encodeRecordValues(dialect, rows, { requests: REQUEST_INSERT_COLUMNS, errors: ERROR_INSERT_COLUMNS })).toEqual({
          requests: objects.requests.map((o) => REQUEST_INSERT_COLUMNS.map((c) => o[c] ?? null)),
          errors: objects.errors.map((o) => ERROR_INSERT_COLUMNS.map((c) => o[c] ?? null)),
        });
      }
    }
    expect(encodeRecordRows('postgres', recordToRows(tricky)).requests[0]!.model_name).toBe('gptx');
  });
});

// PostgreSQL twice: through an in-process pool (the `db` option) and through its writer thread
// (pg-worker.ts, the `postgres` option), which is what the proxy uses.
describe.each([
  ['sqlite', ''],
  ['postgres', ''],
  ['postgres', ' (writer thread)'],
] as const)('database writer on %s%s', (dialect: Dialect, via: '' | ' (writer thread)') => {
  let t: TestDb;
  let spoolDir: string;
  const writers: DbWriter[] = [];
  const log = testLogger();

  beforeEach(async () => {
    t = await withDialect(dialect, pgUrl);
    await migrateToLatest(t.db, dialect);
    spoolDir = join(tempDir(), 'spool');
    log.lines.length = 0;
  });
  afterEach(async () => {
    await Promise.all(writers.splice(0).map((w) => w.close()));
    await t.close();
  });

  /** SQLite goes through the worker thread, as in production; PostgreSQL through the pool or its thread. */
  function writer(over: Partial<DbWriterOptions> = {}): DbWriter {
    const w = createDbWriter({
      dialect,
      ...(dialect === 'sqlite' ? { sqliteFile: t.config.sqlite.path } : via ? { postgres: t.config.postgres } : { db: t.db }),
      config: { batchMaxRows: 100, batchMaxMs: 20, queueMaxRows: 10_000 },
      spoolDir,
      log,
      retry: { minMs: 20, maxMs: 100 },
      ...over,
    });
    writers.push(w);
    return w;
  }

  const requestRows = async () =>
    (await t.db.selectFrom('request_logs').selectAll().orderBy('id').execute()).map((r) => decodeRow(dialect, REQUEST_LOG_COLUMNS, r));
  const errorRows = async () =>
    (await t.db.selectFrom('error_logs').selectAll().orderBy('id').execute()).map((r) => decodeRow(dialect, ERROR_LOG_COLUMNS, r));
  const count = async (table: 'request_logs' | 'error_logs') =>
    Number((await t.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  it('writes exactly the mapped rows of both tables, secrets masked', async () => {
    const w = writer();
    const records = [record({ errors: [error503, { ...error503, time: '2026-01-07T12:00:02.000Z', context: null }] }), record({ usage: null })];
    // PostgreSQL refuses U+0000 in text and jsonb; both dialects store it removed.
    const nul = record({ body: { messages: [{ role: 'user', content: 'hello\u0000 world' }] }, errors: [{ ...error503, message: 'bad\u0000byte' }] });
    for (const r of [...records, nul]) w.publish(r);
    await w.close();
    expect(w.stats).toEqual({ queued: 0, written: 3, spooled: 0, replayed: 0, dropped: 0, writeErrors: 0, lastError: null, dbUp: true });
    const all = await requestRows();
    const cleaned = all.find((r) => r.id === nul.id)!;
    expect(cleaned.body).toEqual({ messages: [{ role: 'user', content: 'hello world' }] });
    expect((cleaned.errors as { message: string }[])[0]!.message).toBe('badbyte');
    expect((await errorRows()).find((e) => e.request_log_id === nul.id)!.error_message).toBe('badbyte');
    const rows = all.filter((r) => r.id !== nul.id);
    expect(rows.map(({ created_at, ...rest }) => rest)).toEqual(
      records.map((r) => ({ ...recordToRows(r).request, headers: { 'content-type': 'application/json', authorization: 'Bearer sk-****' } })),
    );
    expect(rows[0]!.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    const errors = (await errorRows()).filter((e) => e.request_log_id !== nul.id);
    const expected = recordToRows(records[0]!).errors.sort((a, b) => a.id.localeCompare(b.id));
    expect(errors.map(({ created_at, ...rest }) => rest)).toEqual(expected);
  });

  it('counts a record JSON cannot express as dropped, and writes the others of its batch', async () => {
    const w = writer();
    const good = [record(), record()];
    const cyclic = record() as RequestRecord & { self?: unknown };
    cyclic.self = cyclic;
    w.publish(good[0]!);
    w.publish(cyclic);
    w.publish(good[1]!);
    await w.close();
    expect(w.stats).toMatchObject({ queued: 0, written: 2, spooled: 0, dropped: 1, lastError: 'record is not JSON-serialisable' });
    expect((await requestRows()).map((r) => r.id)).toEqual(good.map((r) => r.id).sort());
    expect(log.lines.some((l) => l.includes('1 record(s) lost') && l.includes('not JSON-serialisable'))).toBe(true);
  });

  it('flushes a full batch at once and a partial one after batch_max_ms', async () => {
    const w = writer({ config: { batchMaxRows: 10, batchMaxMs: 60_000, queueMaxRows: 1000 } });
    for (let i = 0; i < 25; i++) w.publish(record());
    await until(() => w.stats.written === 20, '2 full batches');
    expect(w.stats.queued).toBe(5);
    const w2 = writer({ config: { batchMaxRows: 1000, batchMaxMs: 50, queueMaxRows: 1000 } });
    w2.publish(record());
    await until(() => w2.stats.written === 1, 'the timed flush');
    await w.close();
    expect(await count('request_logs')).toBe(26);
  });

  it('spools what does not fit in the queue and replays it', async () => {
    const w = writer({ config: { batchMaxRows: 5, batchMaxMs: 5, queueMaxRows: 5 } });
    for (let i = 0; i < 40; i++) w.publish(record({ errors: [error503] }));
    await until(() => w.stats.written + w.stats.replayed === 40 && segments(spoolDir).length === 0, 'spool replayed');
    expect(w.stats.spooled).toBeGreaterThan(0);
    expect(w.stats.dropped).toBe(0);
    expect([await count('request_logs'), await count('error_logs')]).toEqual([40, 40]);
  });

  it('replays leftover segments idempotently at start-up, then deletes them', async () => {
    const done = record({ errors: [error503] });
    const first = writer();
    first.publish(done);
    await first.close();
    const left = [done, record({ errors: [error503] }), record()];
    mkdirSync(spoolDir, { recursive: true });
    writeFileSync(join(spoolDir, `0000000000001-1-000000.jsonl`), `${left.map((r) => JSON.stringify(r)).join('\n')}\n\n`);
    const w = writer();
    await until(() => segments(spoolDir).length === 0, 'segment deleted');
    expect(w.stats.replayed).toBe(2);
    expect([await count('request_logs'), await count('error_logs')]).toEqual([3, 2]);
  });

  it('sets aside exactly the record that cannot become a row, wherever it sits in a batch of several turns', async () => {
    const w = writer({ config: { batchMaxRows: 7, batchMaxMs: 60_000, queueMaxRows: 1000 } });
    const bad = record({ requestTime: 'not a time' });
    const turns = [[record(), record()], [record(), record(), bad], [record(), record(), record()]];
    for (const turn of turns) {
      for (const r of turn) w.publish(r);
      await new Promise((r) => setImmediate(r));
    }
    await w.close();
    const good = turns.flat().filter((r) => r !== bad);
    expect(w.stats).toMatchObject({ queued: 0, written: 7, dropped: 1, spooled: 0 });
    expect((await requestRows()).map((r) => r.id)).toEqual(good.map((r) => r.id).sort());
    const rejected = readFileSync(join(spoolDir, 'rejected', `${process.pid}.jsonl`), 'utf8').trim().split('\n');
    expect(rejected.map((l) => (JSON.parse(l) as RequestRecord).id)).toEqual([bad.id]);
  });

  it('sets a poison row aside after bisecting, and writes the rest', async () => {
    const w = writer({ config: { batchMaxRows: 50, batchMaxMs: 5, queueMaxRows: 1000 } });
    const poison = record({ model: null as unknown as string });
    const good = Array.from({ length: 9 }, () => record());
    for (const r of [...good.slice(0, 4), poison, ...good.slice(4)]) w.publish(r);
    await until(() => w.stats.dropped === 1 && segments(spoolDir).length === 0, 'poison set aside');
    await until(() => w.stats.dbUp, 'writer back up');
    expect(await count('request_logs')).toBe(9);
    const rejected = readFileSync(join(spoolDir, 'rejected', `${process.pid}.jsonl`), 'utf8').trim().split('\n');
    expect(rejected.map((l) => (JSON.parse(l) as RequestRecord).id)).toEqual([poison.id]);
    expect(log.lines.some((l) => l.startsWith('error database log: a row the database refuses'))).toBe(true);
  });

  it('writes a burst published just before close() in full batches, not a slice per turn', async () => {
    await t.db.schema.createTable('hook_seen').addColumn('n', 'integer').execute();
    const hook = `data:text/javascript,${encodeURIComponent(
      'export async function afterInsert(db, dialect, rows) { await db.insertInto("hook_seen").values({ n: rows.requests.length }).execute(); }',
    )}`;
    const w = writer({ afterInsertModule: hook, config: { batchMaxRows: 100, batchMaxMs: 60_000, queueMaxRows: 10_000 } });
    // 250 records in one turn: serialised 64 a turn, yet batched 100, 100, 50.
    for (let i = 0; i < 250; i++) w.publish(record());
    await w.close();
    expect(w.stats).toMatchObject({ queued: 0, written: 250, spooled: 0, dropped: 0 });
    const seen = await (t.db as unknown as import('kysely').Kysely<{ hook_seen: { n: number } }>).selectFrom('hook_seen').select('n').execute();
    expect(seen.map((r) => Number(r.n))).toEqual([100, 100, 50]);
  });

  it('runs the afterInsert hook in the same transaction, for new rows only', async () => {
    await t.db.schema.createTable('hook_seen').addColumn('n', 'integer').execute();
    const hook = `data:text/javascript,${encodeURIComponent(
      'export async function afterInsert(db, dialect, rows) { await db.insertInto("hook_seen").values({ n: rows.requests.length }).execute(); }',
    )}`;
    const dup = record();
    const w = writer({ afterInsertModule: hook });
    w.publish(dup);
    await until(() => w.stats.written === 1, 'first row');
    w.publish(dup);
    w.publish(record());
    await w.close();
    const seen = await (t.db as unknown as import('kysely').Kysely<{ hook_seen: { n: number } }>).selectFrom('hook_seen').select('n').execute();
    expect(seen.map((r) => Number(r.n))).toEqual([1, 1]);
  });
});

describe('database writer with a failing store', () => {
  const log = testLogger();
  const writer = (store: BatchStore, spoolDir: string, opTimeoutMs?: number): DbWriter =>
    createDbWriter({
      dialect: 'sqlite',
      store,
      config: { batchMaxRows: 100, batchMaxMs: 5, queueMaxRows: 1000 },
      spoolDir,
      log,
      retry: { minMs: 20, maxMs: 100 },
      ...(opTimeoutMs ? { opTimeoutMs } : {}),
    });
  const down = (): Promise<never> => Promise.reject(new Error('db down'));

  it('counts and logs what neither the database nor the spool can keep', async () => {
    const file = join(tempDir(), 'not-a-dir');
    writeFileSync(file, '');
    const w = writer({ write: down, probe: down, close: () => Promise.resolve() }, file);
    for (let i = 0; i < 3; i++) w.publish(record());
    await w.close();
    expect(w.stats).toMatchObject({ queued: 0, written: 0, spooled: 0, dropped: 3, dbUp: false });
    expect(log.lines.filter((l) => l.startsWith('error database log: 3 record(s) lost'))).toHaveLength(1);
  });

  it('gives up on a write that never settles: the batch is spooled and close() returns', async () => {
    const spoolDir = join(tempDir(), 'spool');
    const w = writer({ write: () => new Promise<number>(() => undefined), probe: down, close: () => Promise.resolve() }, spoolDir, 100);
    const records = [record(), record(), record()];
    for (const r of records) w.publish(r);
    await w.close();
    expect(w.stats).toMatchObject({ queued: 0, written: 0, spooled: 3, dropped: 0, dbUp: false, lastError: 'database operation timed out after 100 ms' });
    const lines = segments(spoolDir).flatMap((f) => readFileSync(join(spoolDir, f), 'utf8').trim().split('\n'));
    expect(lines.map((l) => (JSON.parse(l) as RequestRecord).id)).toEqual(records.map((r) => r.id));
  });
});
