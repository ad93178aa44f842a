/**
 * The real composition root (`src/main.ts`) in a child process: the config store (admin API),
 * files + SQLite logging with rollups, /api/usage, /api/logs and /metrics all wired together.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startFakeUpstream } from './helpers/fake-upstream.ts';
import { startMain } from './helpers/main-process.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function until<T>(fn: () => Promise<T | null>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('src/main.ts', () => {
  it('serves, logs to files and SQLite, reports usage, logs and metrics, and takes admin changes', async () => {
    const up = await startFakeUpstream();
    cleanups.push(() => up.close());
    const dir = mkdtempSync(join(tmpdir(), 'yallmp-main-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      join(dir, 'config_default.yaml'),
      stringify({
        model_list: [{ model_name: 'm1', model_params: { api_base: up.base('m1'), api_key: 'sk-upstream-secret-1' } }],
        proxy_settings: { server: { host: '127.0.0.1', port: 0 }, logging: { dir: join(dir, 'requests') } },
        database: { backend: 'sqlite', connection: { sqlite: { path: join(dir, 'yaLLM.db') } }, spool_dir: join(dir, 'spool'), batch: { max_ms: 5 } },
      }),
    );
    writeFileSync(join(dir, 'config_added.yaml'), stringify({ model_list: [], router_settings: { fallbacks: [] } }));
    const main = await startMain(dir);
    const { child, url, exited } = main;
    cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));

    const chat = (model: string) =>
      fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer client-secret-token-123', cookie: 'session=cookie-secret-456' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      });
    const first = await chat('m1');
    expect(first.status).toBe(200);
    const id = first.headers.get('x-request-id')!;

    // Registered at runtime through the admin API (loopback, no token): routable at once.
    const reg = await fetch(`${url}/admin/models`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model_name: 'm2', model_params: { api_base: up.base('m2'), api_key: 'sk-upstream-secret-2' } }),
    });
    expect(reg.status).toBe(200);
    expect((await chat('m2')).status).toBe(200);
    expect((await chat('nope')).status).toBe(404);

    const usage = await until(async () => {
      const u = (await (await fetch(`${url}/api/usage?hours=1`)).json()) as {
        realtime: { received: number };
        historical: { status: string; total_stats: { total_requests: number; failed_requests: number }; requests_by_model: unknown[] };
      };
      return u.historical.total_stats?.total_requests === 3 ? u : null;
    });
    expect(usage.realtime.received).toBe(3);
    expect(usage.historical.status).toBe('available');
    expect(usage.historical.total_stats.failed_requests).toBe(1);
    expect(usage.historical.requests_by_model).toEqual([
      { model_name: 'm1', count: 1 },
      { model_name: 'm2', count: 1 },
      { model_name: 'nope', count: 1 },
    ]);

    const logs = (await (await fetch(`${url}/api/logs?model=m1`)).json()) as { data: Array<{ id: string }> };
    expect(logs.data.map((r) => r.id)).toEqual([id]);
    const detail = (await (await fetch(`${url}/api/logs/${id}`)).json()) as { outcome: string; backend_attempts: unknown[] };
    expect(detail.outcome).toBe('success');
    expect(detail.backend_attempts).toHaveLength(1);

    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('yallmp_requests_total{model="m1",outcome="success",status="200"} 1');
    expect(metrics).toContain('yallmp_log_queue_depth');
    expect(metrics).toContain('yallmp_event_loop_delay_p99_seconds');

    const files = readdirSync(join(dir, 'requests'));
    expect(files.filter((f) => f.endsWith('.json'))).toHaveLength(3);
    for (const f of files) expect(f).not.toContain('secret');

    child.kill('SIGTERM');
    expect(await exited, main.output()).toBe(0);
    const output = main.output();
    // Secrets reach no console line, file or database page (read as raw bytes, WAL included).
    const stored = [output, ...readdirSync(dir, { recursive: true, withFileTypes: true })
      // The config files hold the upstream keys by design; everything the proxy wrote must not.
      .filter((e) => e.isFile() && !e.name.endsWith('.yaml'))
      .map((e) => readFileSync(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).toString('latin1'))];
    for (const secret of ['sk-upstream-secret', 'client-secret-token-123', 'cookie-secret-456']) {
      for (const text of stored) expect(text.includes(secret), secret).toBe(false);
    }
    expect(stored.some((t) => t.includes('Bearer cli****'))).toBe(true);
  });
});
