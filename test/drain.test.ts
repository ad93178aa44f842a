/**
 * Shutdown under load, end to end: the real `src/main.ts` in a child process (default logging:
 * files + SQLite), slow streamed and non-streamed requests in flight, SIGTERM in the middle.
 * The process must stop accepting, finish what it accepted, drain the writers and exit 0, and the
 * database must then hold exactly one row per request that got a response.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createDatabase } from '../src/db/factory.ts';
import { sqliteTestConfig } from './helpers/db.ts';
import { startFakeUpstream } from './helpers/fake-upstream.ts';
import { startMain } from './helpers/main-process.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface Reply {
  readonly status: number;
  readonly id: string;
  readonly body: string;
  readonly tag?: string;
}

/** The `n<i>` a request carries as its message, as the upstream received it. */
const tagOf = (json: unknown): string => String((json as { messages?: { content?: unknown }[] } | null)?.messages?.[0]?.content);

/** A fresh connection per request, so "refused" clearly means "not accepted". */
function post(url: string, body: unknown): Promise<Reply> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/chat/completions`,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, id: String(res.headers['x-request-id']), body: data }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

describe('shutdown', () => {
  it('SIGTERM during load: in-flight requests finish, every one has its row, exit code 0', { timeout: 120_000 }, async () => {
    const up = await startFakeUpstream();
    cleanups.push(() => up.close());
    const events = Array.from({ length: 8 }, (_, i) => `data: {"choices":[{"index":0,"delta":{"content":"w${i} "}}]}\n\n`);
    up.script('slow', [{ kind: 'stream', events: [...events, 'data: [DONE]\n\n'], delayMs: 60 }]);
    up.script('lazy', [{ kind: 'ok', delayMs: 400 }]);

    const dir = mkdtempSync(join(tmpdir(), 'yallmp-drain-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dbFile = join(dir, 'yaLLM.db');
    const spoolDir = join(dir, 'spool');
    writeFileSync(
      join(dir, 'config_default.yaml'),
      stringify({
        model_list: [
          { model_name: 'slow', model_params: { api_base: up.base('slow'), api_key: 'sk-x' } },
          { model_name: 'lazy', model_params: { api_base: up.base('lazy'), api_key: 'sk-x' } },
        ],
        proxy_settings: { server: { host: '127.0.0.1', port: 0 }, logging: { dir: join(dir, 'requests') } },
        database: { backend: 'sqlite', connection: { sqlite: { path: dbFile } }, spool_dir: spoolDir },
      }),
    );
    writeFileSync(join(dir, 'config_added.yaml'), stringify({ model_list: [] }));

    const main = await startMain(dir);
    const { child, url, exited } = main;
    cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));

    // Load: a request every 10 ms, alternating slow streams and slow JSON. SIGTERM goes out once
    // the upstream has 10 of them in flight (on a busy machine that can take a while); the load
    // goes on against the closing server for 300 ms more, and for at least 700 ms in all.
    const outcomes: Promise<Reply | Error>[] = [];
    let inFlightAtSignal: string[] | null = null;
    let signalAt = 0;
    const start = Date.now();
    const loading = (): boolean =>
      Date.now() - start < 20_000 && (!signalAt || Date.now() - signalAt < 300 || Date.now() - start < 700);
    for (let i = 0; loading(); i++) {
      if (!inFlightAtSignal && up.requests.length >= 10) {
        inFlightAtSignal = up.requests.map((r) => tagOf(r.json));
        signalAt = Date.now();
        child.kill('SIGTERM');
      }
      const body = i % 2 === 0
        ? { model: 'slow', stream: true, messages: [{ role: 'user', content: `n${i}` }] }
        : { model: 'lazy', messages: [{ role: 'user', content: `n${i}` }] };
      outcomes.push(post(url, body).then((r) => ({ ...r, tag: `n${i}` }), (err: Error) => err));
      await new Promise((r) => setTimeout(r, 10));
    }
    const settled = await Promise.all(outcomes);
    expect(inFlightAtSignal, 'the upstream never had 10 requests in flight').not.toBeNull();
    expect(await exited, main.output()).toBe(0);
    expect(main.output()).toContain('stopped');
    expect(inFlightAtSignal).not.toBeNull();

    const replies = settled.filter((r): r is Reply => !(r instanceof Error));
    const failed = settled.filter((r): r is Error => r instanceof Error);
    // Not accepted: refused once the listener closed, or reset while connected but still idle.
    for (const r of failed) expect(['ECONNREFUSED', 'ECONNRESET']).toContain((r as NodeJS.ErrnoException).code);
    expect(failed.length).toBeGreaterThan(0);
    // Everything in flight at the signal finished completely.
    for (const r of replies) {
      expect(r.status).toBe(200);
      if (r.body.startsWith('data:')) expect(r.body.endsWith('data: [DONE]\n\n')).toBe(true);
    }
    const answered = new Set(replies.map((r) => r.tag));
    for (const tag of inFlightAtSignal!) expect(answered).toContain(tag);

    const { db, close } = createDatabase(sqliteTestConfig(dbFile));
    try {
      const rows = await db.selectFrom('request_logs').select(['id', 'outcome']).execute();
      expect(rows.map((r) => r.id).sort()).toEqual(replies.map((r) => r.id).sort());
      expect(new Set(rows.map((r) => r.outcome))).toEqual(new Set(['success']));
    } finally {
      await close();
    }
    // Nothing had to wait in the spool: the spool directory was never even created.
    expect(existsSync(spoolDir)).toBe(false);
  });
});
