import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { encodeErrorLog, encodeRequestLog } from '../src/db/dialect.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { applyRetention, RETENTION_BATCH } from '../src/db/retention.ts';
import { rollupDeltas, rollupParams, rollupUpsertSql } from '../src/db/rollups.ts';
import { CompiledQuery } from 'kysely';
import { withDialect, type TestDb } from './helpers/db.ts';

const pgUrl = inject('pgUrl');
const NOW = Date.parse('2026-11-27T12:00:00.000Z');
const daysAgo = (d: number) => new Date(NOW - d * 86_400_000).toISOString();

describe.each(['sqlite', 'postgres'] as const)('retention on %s', (dialect) => {
  let t: TestDb;
  beforeEach(async () => {
    t = await withDialect(dialect, pgUrl);
    await migrateToLatest(t.db, dialect);
  });
  afterEach(async () => {
    await t.close();
  });

  it('deletes raw rows past raw_days in batches, minute rollups past their days, and keeps hour and day rollups', async () => {
    // More old rows than one batch, so the loop must come round.
    const old = Array.from({ length: RETENTION_BATCH + 37 }, () => ({ id: randomUUID(), time: daysAgo(40) }));
    const fresh = Array.from({ length: 5 }, () => ({ id: randomUUID(), time: daysAgo(1) }));
    const rows = [...old, ...fresh].map((r) => encodeRequestLog(dialect, { id: r.id, request_time: r.time, model_name: 'm', outcome: 'success', duration_ms: 10 }));
    for (let i = 0; i < rows.length; i += 100) await t.db.insertInto('request_logs').values(rows.slice(i, i + 100)).execute();
    await t.db
      .insertInto('error_logs')
      .values([
        encodeErrorLog(dialect, { id: randomUUID(), timestamp: daysAgo(40), error_type: 'timeout', error_message: 'old', request_log_id: old[0]!.id }),
        encodeErrorLog(dialect, { id: randomUUID(), timestamp: daysAgo(1), error_type: 'timeout', error_message: 'new', request_log_id: fresh[0]!.id }),
      ])
      .execute();
    const deltas = rollupDeltas(
      [daysAgo(40), daysAgo(10), daysAgo(1)].map((time) => ({
        request_time: time,
        model_name: 'm',
        outcome: 'success',
        is_stream: false,
        duration_ms: 10,
        ttfb_ms: null,
        prompt_tokens: null,
        completion_tokens: null,
        total_tokens: null,
      })),
    );
    await t.db.executeQuery(CompiledQuery.raw(rollupUpsertSql(dialect, deltas.length), deltas.flatMap(rollupParams)));

    const result = await applyRetention(t.db, dialect, { rawDays: 30, minuteRollupDays: 7, hourRollupDays: 0, intervalMs: 1 }, NOW);
    expect(result).toEqual({ requestLogs: old.length, errorLogs: 1, minuteRollups: 2, hourRollups: 0, dayRollups: 0 });

    const ids = (await t.db.selectFrom('request_logs').select('id').execute()).map((r) => r.id).sort();
    expect(ids).toEqual(fresh.map((r) => r.id).sort());
    expect((await t.db.selectFrom('error_logs').select('error_message').execute()).map((r) => r.error_message)).toEqual(['new']);
    const rollups = await t.db.selectFrom('usage_rollups').select(['granularity']).execute();
    expect(rollups.map((r) => r.granularity).sort()).toEqual(['day', 'day', 'day', 'hour', 'hour', 'hour', 'minute']);

    // Nothing left to do: a second pass deletes nothing.
    expect(await applyRetention(t.db, dialect, { rawDays: 30, minuteRollupDays: 7, hourRollupDays: 0, intervalMs: 1 }, NOW)).toEqual({
      requestLogs: 0,
      errorLogs: 0,
      minuteRollups: 0,
      hourRollups: 0,
      dayRollups: 0,
    });
  });

  it('deletes hour and day rollups past hour_rollup_days by whole UTC days, so the day rows left equal their hour rows', async () => {
    // NOW − 10 days is 2026-11-17T12:00Z; the cutoff moves back to 2026-11-17T00:00Z.
    const times = ['2026-10-18T12:00:00.000Z', '2026-11-16T23:59:00.000Z', '2026-11-17T06:00:00.000Z', '2026-11-17T18:00:00.000Z', daysAgo(1)];
    const deltas = rollupDeltas(
      times.map((time) => ({
        request_time: time,
        model_name: 'm',
        outcome: 'success',
        is_stream: false,
        duration_ms: 10,
        ttfb_ms: null,
        prompt_tokens: null,
        completion_tokens: null,
        total_tokens: null,
      })),
    );
    await t.db.executeQuery(CompiledQuery.raw(rollupUpsertSql(dialect, deltas.length), deltas.flatMap(rollupParams)));

    const result = await applyRetention(t.db, dialect, { rawDays: 30, minuteRollupDays: 7, hourRollupDays: 10, intervalMs: 1 }, NOW);
    expect(result).toEqual({ requestLogs: 0, errorLogs: 0, minuteRollups: 4, hourRollups: 2, dayRollups: 2 });
    const left = await t.db.selectFrom('usage_rollups').select(['granularity', 'bucket_start', 'request_count']).orderBy('granularity').orderBy('bucket_start').execute();
    expect(left.map((r) => `${r.granularity} ${new Date(r.bucket_start).toISOString()} ${Number(r.request_count)}`)).toEqual([
      'day 2026-11-17T00:00:00.000Z 2',
      'day 2026-11-26T00:00:00.000Z 1',
      'hour 2026-11-17T06:00:00.000Z 1',
      'hour 2026-11-17T18:00:00.000Z 1',
      'hour 2026-11-26T12:00:00.000Z 1',
      'minute 2026-11-26T12:00:00.000Z 1',
    ]);
  });
});
