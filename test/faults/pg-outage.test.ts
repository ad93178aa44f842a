/**
 * Fault 1: PostgreSQL "killed" during load and brought back (real src/main.ts, files + PostgreSQL).
 * The shared server is never touched: a TCP relay in front of a fresh database cuts every open
 * connection (what clients see when the server dies) and refuses new ones, then relays again.
 * test/db-outage.test.ts covers the spool mechanics in-process with the load paused around the
 * cut; here the load never stops, the cut lands on live transactions, and the count closes over
 * the whole run: requests sent = 200 responses = rows in request_logs, nothing dropped.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startFakeUpstream } from '../helpers/fake-upstream.ts';
import { alive, countRequestLogs, cuttablePgDatabase, metricValue, sleep, tempDir, until, withDb, writeMainConfig } from '../helpers/faults.ts';
import { startMain } from '../helpers/main-process.ts';
import { startLoad } from './load.ts';

const pgUrl = inject('pgUrl');
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

describe('fault: PostgreSQL killed during load', () => {
  it('zero failed requests during the outage; after recovery every row is there exactly once', async () => {
    const up = await startFakeUpstream({ record: false });
    cleanups.push(() => up.close());
    up.script('m', [{ kind: 'ok', delayMs: 5 }]);

    const { target, relay, connection } = await cuttablePgDatabase(pgUrl, cleanups);

    const { dir, remove } = tempDir('pgkill');
    cleanups.push(remove);
    const spoolDir = join(dir, 'spool');
    writeMainConfig(dir, {
      model_list: [{ model_name: 'm', model_params: { api_base: up.base('m'), api_key: 'sk-x' } }],
      proxy_settings: { server: { host: '127.0.0.1', port: 0 }, logging: { dir: join(dir, 'requests') } },
      database: {
        backend: 'postgres',
        connection: { postgres: connection },
        // Small batches: more transactions in flight for the cut to land on.
        batch: { max_rows: 20, max_ms: 10 },
        spool_dir: spoolDir,
      },
    });

    const main = await startMain(dir);
    cleanups.push(() => main.child.exitCode === null && main.child.kill('SIGKILL'));
    const load = startLoad({ url: main.url, concurrency: 16, mixStreams: true });
    cleanups.push(() => load.stop());

    await until(() => alive(main) && load.completed() >= 100, '100 responses before the kill', 30_000, 5);
    const beforeKill = load.completed();
    relay.setDown(true);
    await until(() => alive(main) && load.completed() >= beforeKill + 150, '150 responses during the outage', 30_000, 5);
    await sleep(500);
    const duringOutage = load.completed() - beforeKill;
    relay.setDown(false);
    await until(() => alive(main) && /database reachable again/.test(main.output()), 'recovery', 30_000, 50);
    const afterRestart = load.completed();
    await until(() => alive(main) && load.completed() >= afterRestart + 100, '100 responses after the restart', 30_000, 5);
    await load.stop();

    const sent = load.outcomes;
    expect(sent.filter((o) => o.error !== null || o.status !== 200)).toEqual([]);
    expect(sent.every((o) => o.doneAt !== null)).toBe(true);
    await until(async () => (await countRequestLogs(target)) >= sent.length && readdirSync(spoolDir).filter((f) => f.endsWith('.jsonl')).length === 0, 'every row written', 30_000, 100);

    const metrics = await (await fetch(`${main.url}/metrics`)).text();
    const rows = await withDb(target, (db) => db.selectFrom('request_logs').select(['id', 'outcome']).execute());
    console.log(
      `[faults/pg-outage] sent ${sent.length} (${duringOutage} answered while the database was down), rows ${rows.length}, ` +
        `spooled ${metricValue(metrics, 'yallmp_log_spooled_rows_total')}, write errors ${metricValue(metrics, 'yallmp_db_write_errors_total')}`,
    );
    expect(rows.length).toBe(sent.length);
    expect(rows.map((r) => r.id).sort()).toEqual(sent.map((o) => o.id).sort());
    expect(new Set(rows.map((r) => r.outcome))).toEqual(new Set(['success']));
    expect(metricValue(metrics, 'yallmp_log_spooled_rows_total')).toBeGreaterThanOrEqual(duringOutage);
    expect(metricValue(metrics, 'yallmp_log_dropped_total')).toBe(0);
    expect(metricValue(metrics, 'yallmp_db_write_errors_total')).toBeGreaterThan(0);
    expect(main.child.exitCode).toBeNull();

    main.child.kill('SIGTERM');
    expect(await main.exited, main.output()).toBe(0);
    expect(await countRequestLogs(target)).toBe(sent.length);
  }, 90_000);
});
