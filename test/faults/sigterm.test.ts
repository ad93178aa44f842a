/**
 * Fault 2: SIGTERM under load (real src/main.ts, files + PostgreSQL), with the database cut just
 * before the signal so the drain has to go to the spool. test/drain.test.ts already covers SIGTERM
 * with a healthy SQLite database and new connections arriving during the drain; this test adds
 * the count over a whole run and the hand-over to the next process:
 * requests sent = complete responses = rows in request_logs after the restart replayed the spool.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startFakeUpstream } from '../helpers/fake-upstream.ts';
import { alive, countRequestLogs, cuttablePgDatabase, sleep, tagOfBody, tempDir, until, withDb, writeMainConfig } from '../helpers/faults.ts';
import { startMain } from '../helpers/main-process.ts';
import { startLoad } from './load.ts';

const pgUrl = inject('pgUrl');
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const segments = (spoolDir: string): string[] => {
  try {
    return readdirSync(spoolDir).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return [];
  }
};

describe('fault: SIGTERM during load', () => {
  it('in-flight requests complete, the queue drains to the spool (database cut), exit 0, the restart replays every row', async () => {
    const up = await startFakeUpstream({ record: false });
    cleanups.push(() => up.close());
    const events = Array.from({ length: 6 }, (_, i) => `data: {"choices":[{"index":0,"delta":{"content":"w${i} "}}]}\n\n`);
    // Every request takes ~300 ms upstream, so at any moment about `concurrency` are in flight.
    up.script('m', [{ kind: 'ok', delayMs: 300 }]);
    up.script('s', [{ kind: 'stream', events: [...events, 'data: [DONE]\n\n'], delayMs: 60 }]);

    const { target, relay, connection } = await cuttablePgDatabase(pgUrl, cleanups);

    const { dir, remove } = tempDir('sigterm');
    cleanups.push(remove);
    const spoolDir = join(dir, 'spool');
    writeMainConfig(dir, {
      model_list: [
        { model_name: 'm', model_params: { api_base: up.base('m'), api_key: 'sk-x' } },
        { model_name: 's', model_params: { api_base: up.base('s'), api_key: 'sk-x' } },
      ],
      proxy_settings: { server: { host: '127.0.0.1', port: 0 }, logging: { dir: join(dir, 'requests') } },
      database: {
        backend: 'postgres',
        connection: { postgres: connection },
        spool_dir: spoolDir,
      },
    });

    const first = await startMain(dir);
    cleanups.push(() => first.child.exitCode === null && first.child.kill('SIGKILL'));
    // Two loads: slow JSON and slow streams, 12 connections each.
    const json = startLoad({ url: first.url, concurrency: 12, model: 'm', tagPrefix: 'j' });
    cleanups.push(() => json.stop());
    const streams = startLoad({ url: first.url, concurrency: 12, model: 's', mixStreams: true, tagPrefix: 's' });
    cleanups.push(() => streams.stop());
    await until(() => alive(first) && json.completed() + streams.completed() >= 100, '100 responses with the database up', 30_000, 5);
    const rowsBeforeCut = await countRequestLogs(target);
    expect(rowsBeforeCut).toBeGreaterThan(0);

    relay.setDown(true);
    await sleep(400);
    const stopped = Promise.all([json.stop(), streams.stop()]); // no new requests from here on
    const all = [...json.outcomes, ...streams.outcomes];
    const inFlight = all.filter((o) => o.doneAt === null && o.error === null).length;
    alive(first);
    first.child.kill('SIGTERM');
    await stopped;
    expect(await first.exited, first.output()).toBe(0);
    expect(first.output()).toContain('stopped');
    expect(inFlight).toBeGreaterThanOrEqual(12);

    // Every request sent got its complete response.
    const sent = all.length;
    const complete = all.filter((o) => o.doneAt !== null && o.status === 200);
    expect(all.filter((o) => o.error !== null)).toEqual([]);
    expect(complete.length).toBe(sent);
    for (const o of complete) if (o.stream) expect(o.body.endsWith('data: [DONE]\n\n')).toBe(true);
    // The drain went to the spool, none of it to the (cut) database.
    expect(segments(spoolDir).length).toBeGreaterThan(0);
    expect(first.output()).toContain('spooling to');
    expect(first.output()).not.toMatch(/record\(s\) lost/);

    // Restart with the database back: the spool left behind is replayed at start-up.
    relay.setDown(false);
    const second = await startMain(dir);
    cleanups.push(() => second.child.exitCode === null && second.child.kill('SIGKILL'));
    await until(async () => (await countRequestLogs(target)) >= sent && segments(spoolDir).length === 0, 'spool replayed', 30_000, 100);
    second.child.kill('SIGTERM');
    expect(await second.exited, second.output()).toBe(0);

    const rows = await withDb(target, (db) => db.selectFrom('request_logs').select(['id', 'body', 'outcome']).execute());
    console.log(`[faults/sigterm] sent ${sent}, complete ${complete.length}, in flight at SIGTERM ${inFlight}, rows before the cut ${rowsBeforeCut}, rows after restart ${rows.length}`);
    expect(rows.length).toBe(sent);
    expect(rows.map((r) => r.id).sort()).toEqual(complete.map((o) => o.id).sort());
    expect(rows.map((r) => tagOfBody(r.body)).sort()).toEqual(all.map((o) => o.tag).sort());
    expect(new Set(rows.map((r) => r.outcome))).toEqual(new Set(['success']));
    expect(segments(spoolDir)).toEqual([]);
  }, 90_000);
});

