/**
 * Database outages seen from a served proxy with the real sinks (files + database writer):
 * requests keep succeeding and files keep being written while rows go to the spool; when the
 * database is back, exactly the missing rows appear and the spool is empty.
 * PostgreSQL is "stopped" by a TCP relay that cuts and refuses connections; SQLite by another
 * connection holding the write lock (what a stuck writer or a backup tool does).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { openSqliteRaw } from '../src/db/factory.ts';
import type { Sinks } from '../src/logging/sinks.ts';
import { createSinks } from '../src/logging/sinks.ts';
import { startProxy } from '../src/server.ts';
import type { ProxyServer } from '../src/server.ts';
import { withPostgres, withSqlite } from './helpers/db.ts';
import type { TestDb } from './helpers/db.ts';
import { startFakeUpstream } from './helpers/fake-upstream.ts';
import type { FakeUpstream } from './helpers/fake-upstream.ts';
import { configFrom, model, testLogger } from './helpers/proxy.ts';
import { startTcpRelay } from './helpers/tcp-relay.ts';
import type { TcpRelay } from './helpers/tcp-relay.ts';

const pgUrl = inject('pgUrl');
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Rig {
  proxy: ProxyServer;
  sinks: Sinks;
  logDir: string;
  spoolDir: string;
  segments(): string[];
}

async function rig(upstream: FakeUpstream, database: Record<string, unknown>): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'yallmp-outage-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const logDir = join(dir, 'requests');
  const spoolDir = join(dir, 'spool');
  const config = configFrom({
    model_list: [model('m', upstream.base('m'))],
    proxy_settings: { logging: { dir: logDir } },
    database: { ...database, batch: { max_rows: 100, max_ms: 20 }, spool_dir: spoolDir },
  });
  const log = testLogger();
  const sinks = await createSinks({ config, rootDir: dir, log, database: { retry: { minMs: 50, maxMs: 200 }, sqliteBusyTimeoutMs: 50 } });
  cleanups.push(() => sinks.close());
  const proxy = await startProxy({ config, sink: sinks.sink, log, host: '127.0.0.1', port: 0 });
  cleanups.push(() => proxy.close(1000));
  const segments = (): string[] => {
    try {
      return readdirSync(spoolDir).filter((f) => f.endsWith('.jsonl'));
    } catch {
      return [];
    }
  };
  return { proxy, sinks, logDir, spoolDir, segments };
}

/** `n` chat completions, `concurrency` at a time; resolves with the statuses. */
async function fire(url: string, n: number, concurrency = 25): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
      });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}

async function countRows(t: TestDb): Promise<number> {
  const row = await t.db.selectFrom('request_logs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The outage itself, the same for both dialects. */
async function outage(r: Rig, t: TestDb, stop: () => void, start: () => void): Promise<void> {
  const stats = r.sinks.database!;
  expect(await fire(r.proxy.url, 20)).toEqual(Array(20).fill(200));
  await until(() => stats.written === 20, 'rows before the outage');

  stop();
  expect(await fire(r.proxy.url, 500)).toEqual(Array(500).fill(200));
  await until(() => r.sinks.files!.written === 520, 'files');
  expect(readdirSync(r.logDir)).toHaveLength(1040);
  await until(() => stats.spooled === 500, 'rows spooled');
  expect(stats).toMatchObject({ dbUp: false, written: 20, replayed: 0, dropped: 0 });
  expect(await countRows(t)).toBe(20);

  start();
  await until(() => stats.replayed === 500 && r.segments().length === 0, 'spool replayed');
  expect(stats).toMatchObject({ dbUp: true, written: 20, spooled: 500, replayed: 500, dropped: 0, queued: 0 });
  expect(await countRows(t)).toBe(520);
}

describe('database outage', () => {
  it('PostgreSQL stopped mid-run: 500 requests succeed, rows spooled, then replayed exactly once', async () => {
    const upstream = await startFakeUpstream();
    cleanups.push(() => upstream.close());
    const t = await withPostgres(pgUrl);
    cleanups.push(() => t.close());
    const relay: TcpRelay = await startTcpRelay({ host: t.config.postgres.host, port: t.config.postgres.port });
    cleanups.push(() => relay.close());
    const { postgres: pg } = t.config;
    const r = await rig(upstream, {
      backend: 'postgres',
      connection: { postgres: { host: relay.host, port: relay.port, database: pg.database, user: pg.user, password: pg.password } },
    });
    await outage(r, t, () => relay.setDown(true), () => relay.setDown(false));
  });

  it('SQLite locked by another writer: same guarantees', async () => {
    const upstream = await startFakeUpstream();
    cleanups.push(() => upstream.close());
    const t = await withSqlite();
    cleanups.push(() => t.close());
    const r = await rig(upstream, { backend: 'sqlite', connection: { sqlite: { path: t.config.sqlite.path } } });
    const locker = openSqliteRaw(t.config.sqlite.path);
    cleanups.push(() => locker.close());
    await outage(r, t, () => locker.exec('begin immediate'), () => locker.exec('commit'));
  });

  it('PostgreSQL unreachable at start-up: the proxy starts, spools, then migrates and replays', async () => {
    const upstream = await startFakeUpstream();
    cleanups.push(() => upstream.close());
    const t = await withPostgres(pgUrl);
    cleanups.push(() => t.close());
    const relay = await startTcpRelay({ host: t.config.postgres.host, port: t.config.postgres.port });
    cleanups.push(() => relay.close());
    relay.setDown(true);
    const { postgres: pg } = t.config;
    const r = await rig(upstream, {
      backend: 'postgres',
      connection: { postgres: { host: relay.host, port: relay.port, database: pg.database, user: pg.user, password: pg.password } },
    });
    const stats = r.sinks.database!;
    expect(stats.dbUp).toBe(false);
    expect(await fire(r.proxy.url, 30)).toEqual(Array(30).fill(200));
    await until(() => stats.spooled === 30, 'rows spooled');
    relay.setDown(false);
    await until(() => stats.replayed === 30 && r.segments().length === 0, 'migrated and replayed');
    expect(await countRows(t)).toBe(30);
  });
});
