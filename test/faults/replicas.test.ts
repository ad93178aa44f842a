/**
 * Fault 7: two replicas (real src/main.ts each) started at the same moment on one empty
 * PostgreSQL database: the migrations run once (one replica applies them under the advisory lock,
 * the other finds nothing pending), both serve, and /api/usage on either one reports the traffic
 * of both, because it reads the shared rollups.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { pgTestConfig } from '../helpers/db.ts';
import { startFakeUpstream } from '../helpers/fake-upstream.ts';
import { countRequestLogs, createPgDatabase, dropPgDatabase, tempDir, until, withDb, writeMainConfig } from '../helpers/faults.ts';
import { startMain } from '../helpers/main-process.ts';
import { startLoad } from './load.ts';

const pgUrl = inject('pgUrl');
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface UsageAnswer {
  historical: { status: string; total_stats?: { total_requests: number; successful_requests: number }; requests_by_model?: { model_name: string; count: number }[] };
}

describe('fault: two replicas on one empty PostgreSQL', () => {
  it('migrations run once, both serve, /api/usage on either shows the traffic of both', async () => {
    const up = await startFakeUpstream({ record: false });
    cleanups.push(() => up.close());
    const admin = pgTestConfig(pgUrl);
    const name = `yallmp_faults_${randomBytes(4).toString('hex')}`;
    await createPgDatabase(admin, name);
    cleanups.push(() => dropPgDatabase(admin, name));
    const target = pgTestConfig(pgUrl, name);
    const pg = target.postgres;

    const dirs = ['a', 'b'].map((r) => {
      const t = tempDir(`replica-${r}`);
      cleanups.push(t.remove);
      writeMainConfig(t.dir, {
        model_list: [
          { model_name: 'm', model_params: { api_base: up.base('m'), api_key: 'sk-x' } },
          { model_name: `only-${r}`, model_params: { api_base: up.base(r), api_key: 'sk-x' } },
        ],
        proxy_settings: { server: { host: '127.0.0.1', port: 0 }, logging: { files: false } },
        database: {
          backend: 'postgres',
          connection: { postgres: { host: pg.host, port: pg.port, database: pg.database, user: pg.user, password: pg.password } },
          // One spool directory per replica, as docs/database.md requires.
          spool_dir: join(t.dir, 'spool'),
        },
      });
      return t.dir;
    });

    const [a, b] = await Promise.all(dirs.map((d) => startMain(d, 30_000)));
    cleanups.push(() => a!.child.exitCode === null && a!.child.kill('SIGKILL'));
    cleanups.push(() => b!.child.exitCode === null && b!.child.kill('SIGKILL'));

    // Migrations: applied by exactly one replica, recorded once each.
    const appliers = [a!, b!].filter((m) => /database: applied migrations/.test(m.output()));
    expect(appliers).toHaveLength(1);
    const migrationFiles = readdirSync(new URL('../../migrations/', import.meta.url)).filter((f) => /^\d{4}_.*\.ts$/.test(f)).sort();
    const applied = await withDb(target, async (db) =>
      (await (db as unknown as import('kysely').Kysely<{ kysely_migration: { name: string } }>).selectFrom('kysely_migration').select('name').orderBy('name').execute()).map((r) => r.name),
    );
    expect(applied).toEqual(migrationFiles.map((f) => f.replace(/\.ts$/, '')));
    for (const m of [a!, b!]) expect(m.output()).not.toMatch(/ERROR|not usable/);

    // Both serve, at the same time: 150 requests on a (model m + only-a), 100 on b.
    const loadA = startLoad({ url: a!.url, concurrency: 8, total: 150, tagPrefix: 'a' });
    const loadB = startLoad({ url: b!.url, concurrency: 8, total: 100, tagPrefix: 'b' });
    const extraA = await (await fetch(`${a!.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'only-a', messages: [{ role: 'user', content: 'x' }] }) })).text();
    const extraB = await (await fetch(`${b!.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'only-b', messages: [{ role: 'user', content: 'y' }] }) })).text();
    await Promise.all([loadA.finished, loadB.finished]);
    expect(JSON.parse(extraA)).toMatchObject({ object: 'chat.completion' });
    expect(JSON.parse(extraB)).toMatchObject({ object: 'chat.completion' });
    for (const o of [...loadA.outcomes, ...loadB.outcomes]) expect([o.status, o.error]).toEqual([200, null]);
    expect(loadA.outcomes).toHaveLength(150);
    expect(loadB.outcomes).toHaveLength(100);
    const sent = 150 + 100 + 2;

    await until(async () => (await countRequestLogs(target)) >= sent, 'rows of both replicas', 20_000, 100);
    expect(await countRequestLogs(target)).toBe(sent);

    for (const m of [a!, b!]) {
      const usage = (await (await fetch(`${m.url}/api/usage?hours=1`)).json()) as UsageAnswer;
      expect(usage.historical.status).toBe('available');
      expect(usage.historical.total_stats).toMatchObject({ total_requests: sent, successful_requests: sent });
      expect(usage.historical.requests_by_model).toEqual([
        { model_name: 'm', count: 250 },
        { model_name: 'only-a', count: 1 },
        { model_name: 'only-b', count: 1 },
      ]);
    }

    for (const m of [a!, b!]) m.child.kill('SIGTERM');
    expect(await a!.exited, a!.output()).toBe(0);
    expect(await b!.exited, b!.output()).toBe(0);
  }, 90_000);
});
