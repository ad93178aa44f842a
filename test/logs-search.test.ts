/**
 * `/api/logs` search and detail order agree across dialects where the databases themselves
 * differ: SQLite's LIKE folds ASCII letters only, PostgreSQL's ILIKE every letter; and two errors
 * with the same timestamp come back in one order everywhere.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Dialect } from '../src/db/dialect.ts';
import { getLog, listLogs } from '../src/db/logs-repo.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { errorLogId } from '../src/db/rows.ts';
import { createDbWriter } from '../src/db/writer.ts';
import type { RecordedError, RequestRecord } from '../src/logging/types.ts';
import { withDialect, type TestDb } from './helpers/db.ts';
import { testLogger } from './helpers/proxy.ts';

const pgUrl = inject('pgUrl');
const id = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const T = '2026-11-27T10:00:00.000Z';

function error(message: string, time = T): RecordedError {
  return { time, type: 'http_error', message, backend: 'b', httpStatus: 500, context: null };
}

function record(n: number, errors: RecordedError[]): RequestRecord {
  return {
    id: id(n),
    requestTime: `2026-11-27T10:00:0${n}.000Z`,
    model: 'm',
    isStream: false,
    path: '/v1/chat/completions',
    method: 'POST',
    query: '',
    headers: {},
    body: null,
    bodyTruncated: false,
    route: ['m'],
    attempts: [],
    streamChunks: [],
    streamChunksDropped: 0,
    errors,
    usage: null,
    finishReason: null,
    outcome: 'error',
    statusCode: 500,
    backendName: 'b',
    durationMs: 10,
    ttfbMs: null,
    responseBody: null,
  };
}

describe.each(['sqlite', 'postgres'] as const)('/api/logs search and detail on %s', (dialect: Dialect) => {
  let t: TestDb;

  beforeAll(async () => {
    t = await withDialect(dialect, pgUrl);
    await migrateToLatest(t.db, dialect);
    const writer = createDbWriter({
      dialect,
      ...(dialect === 'sqlite' ? { sqliteFile: t.config.sqlite.path } : { db: t.db }),
      config: { batchMaxRows: 10, batchMaxMs: 5, queueMaxRows: 100 },
      spoolDir: join(mkdtempSync(join(tmpdir(), 'yallmp-logs-search-')), 'spool'),
      log: testLogger(),
    });
    writer.publish(record(1, [error('Échec du modèle: délai dépassé')]));
    writer.publish(record(2, [error('upstream said KELVIN is cold')]));
    // Three errors at one instant: their order must not depend on the database.
    writer.publish(record(3, [error('third-a'), error('third-b'), error('third-c')]));
    await writer.close();
    expect(writer.stats).toMatchObject({ written: 3, dropped: 0 });
  });

  afterAll(async () => {
    await t?.close();
  });

  const search = async (text: string): Promise<string[]> =>
    (await listLogs(t.db, dialect, { limit: 10, search: text })).rows.map((r) => r.id);

  it('non-ASCII search folds case like PostgreSQL ILIKE', async () => {
    expect(await search('échec')).toEqual([id(1)]);
    expect(await search('ÉCHEC DU MODÈLE')).toEqual([id(1)]);
    expect(await search('DÉPASSÉ')).toEqual([id(1)]);
    expect(await search('modele')).toEqual([]);
  });

  it('ASCII search stays case-insensitive and literal', async () => {
    expect(await search('kelvin')).toEqual([id(2)]);
    expect(await search('THIRD-')).toEqual([id(3)]);
    expect(await search('third_a')).toEqual([]);
  });

  it('errors with the same timestamp come back ordered by their id', async () => {
    const detail = await getLog(t.db, dialect, id(3));
    const expected = [0, 1, 2].map((i) => ({ id: errorLogId(id(3), i), message: `third-${'abc'[i]}` }));
    expected.sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(detail?.errors.map((e) => ({ id: e.id, message: e.error_message }))).toEqual(expected);
  });
});
