/**
 * The SQLite writer thread leaves WAL checkpoints to a second thread (sqlite-checkpointer.mjs).
 * Committed pages live in the WAL until a checkpoint copies them into the database file, and the
 * writer's own checkpoint only fires at 10,000 pages; so a few hundred pages of rows reaching the
 * database file while the writer is still open shows the checkpointer at work.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createRecordGenerator } from '../scripts/bench-usage/records.ts';
import { ROLLUP_HOOK } from '../src/db/logging.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { createDbWriter } from '../src/db/writer.ts';
import { withSqlite, type TestDb } from './helpers/db.ts';
import { testLogger } from './helpers/proxy.ts';

const ROWS = 2_000;

describe('SQLite writer checkpoints', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('copies committed rows into the database file from its own thread, long before the WAL bound', async () => {
    const t: TestDb = await withSqlite();
    cleanup.push(() => t.close());
    await migrateToLatest(t.db, 'sqlite');
    const file = t.config.sqlite.path;
    const spoolDir = mkdtempSync(join(tmpdir(), 'yallmp-ckpt-spool-'));
    cleanup.push(() => rmSync(spoolDir, { recursive: true, force: true }));
    const sizeBefore = statSync(file).size;

    const writer = createDbWriter({
      dialect: 'sqlite',
      sqliteFile: file,
      config: { batchMaxRows: 200, batchMaxMs: 5, queueMaxRows: 10_000 },
      spoolDir,
      log: testLogger(),
      afterInsertModule: ROLLUP_HOOK,
    });
    cleanup.push(() => writer.close());
    await writer.warmUp();
    const gen = createRecordGenerator({ total: ROWS, days: 1, end: new Date(), seed: 7 });
    for (let i = 0; i < ROWS; i++) writer.publish(gen.next());

    const count = async (): Promise<number> =>
      Number((await sql<{ n: number }>`select count(*) as n from request_logs`.execute(t.db)).rows[0]!.n);
    const deadline = Date.now() + 20_000;
    while ((await count()) < ROWS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await count()).toBe(ROWS);

    // The rows are a few MB: far below the writer's 10,000-page checkpoint, so only the
    // checkpointer thread moves them from the WAL into the file (within its 250 ms period).
    const walPages = statSync(`${file}-wal`).size / 8192;
    expect(walPages).toBeLessThan(10_000);
    let grown = 0;
    while (Date.now() < deadline) {
      grown = statSync(file).size - sizeBefore;
      if (grown >= 2 * 1024 * 1024) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(grown).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    // The writer thread reports each batch after its commit: the rows can be in the file before
    // the last report reaches the stats.
    while (writer.stats.written < ROWS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(writer.stats).toMatchObject({ written: ROWS, spooled: 0, dropped: 0 });
  });
});
