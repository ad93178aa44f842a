/**
 * Fault 5: a generated corpus of 10,000+ malformed requests (test/faults/corpus.ts: invalid JSON,
 * wrong types, huge fields, invalid UTF-8, header abuse, unknown routes and methods) against the
 * real src/main.ts (SQLite log; per-request files off to keep the run short). Every answer is a
 * 4xx with exactly the OpenAI error envelope {"error":{"message","type","param","code"}}; no 5xx,
 * no dropped connection; the process stays up; one row per request that reached a /v1 proxy
 * endpoint; and the heap after a full GC returns to its baseline.
 */
import { join } from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteTestConfig } from '../helpers/db.ts';
import { MB, MEM_PROBE_ARGS, alive, countRequestLogs, mb, peakRssOf, resetPeakRss, sampleMemory, tempDir, until, writeMainConfig } from '../helpers/faults.ts';
import { startMain, type MainProcess } from '../helpers/main-process.ts';
import { MAX_REQUEST_BYTES, buildCorpus, type BadRequest } from './corpus.ts';

const CORPUS_SIZE = 10_000;
const WARMUP = 300;
/** Heap (after two full GCs) may exceed the warm-up baseline by at most this much. */
const HEAP_TOLERANCE = 8 * MB;

let main: MainProcess;
let dbFile: string;
let remove: () => void;

beforeAll(async () => {
  const t = tempDir('badinput');
  remove = t.remove;
  dbFile = join(t.dir, 'yaLLM.db');
  writeMainConfig(t.dir, {
    // A model that exists but whose upstream does not: no corpus request may get that far.
    model_list: [{ model_name: 'm', model_params: { api_base: 'http://127.0.0.1:9/v1', api_key: 'sk-x' } }],
    proxy_settings: { server: { host: '127.0.0.1', port: 0 }, max_request_body_bytes: MAX_REQUEST_BYTES, logging: { files: false } },
    database: { backend: 'sqlite', connection: { sqlite: { path: dbFile } }, spool_dir: join(t.dir, 'spool') },
  });
  main = await startMain(t.dir, 20_000, { nodeArgs: MEM_PROBE_ARGS });
});

afterAll(async () => {
  if (main?.child.exitCode === null) {
    main.child.kill('SIGTERM');
    expect(await main.exited, main.output()).toBe(0);
  }
  remove?.();
});

interface Result {
  req: BadRequest;
  status: number;
  body: string;
  requestId: string | null;
  error: string | null;
}

async function run(pool: Pool, reqs: readonly BadRequest[], concurrency: number): Promise<Result[]> {
  const results: Result[] = new Array(reqs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < reqs.length) {
      const i = next++;
      const req = reqs[i]!;
      try {
        const res = await pool.request({ method: req.method as 'POST', path: req.path, headers: req.headers, body: req.body ?? undefined });
        const body = await res.body.text();
        results[i] = { req, status: res.statusCode, body, requestId: (res.headers['x-request-id'] as string | undefined) ?? null, error: null };
      } catch (err) {
        results[i] = { req, status: 0, body: '', requestId: null, error: `${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}` };
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** Exactly `{"error":{"message":string,"type":string,"param":string|null,"code":string|null}}`. */
function isOpenAiError(text: string): boolean {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    const e = v.error as Record<string, unknown> | undefined;
    return (
      Object.keys(v).join() === 'error' &&
      !!e &&
      Object.keys(e).sort().join() === 'code,message,param,type' &&
      typeof e.message === 'string' &&
      typeof e.type === 'string' &&
      (e.param === null || typeof e.param === 'string') &&
      (e.code === null || typeof e.code === 'string')
    );
  } catch {
    return false;
  }
}

describe('fault: bad client input', () => {
  it(`${CORPUS_SIZE} malformed requests: every answer a 4xx OpenAI error, one row per /v1 request, memory back to baseline`, async () => {
    const corpus = buildCorpus(WARMUP + CORPUS_SIZE);
    const pool = new Pool(main.url, { connections: 16, headersTimeout: 30_000, bodyTimeout: 30_000 });
    try {
      const warm = await run(pool, corpus.slice(0, WARMUP), 16);
      const baseline = await sampleMemory(main);
      resetPeakRss(main.child.pid!);
      const results = [...warm, ...(await run(pool, corpus.slice(WARMUP), 16))];
      alive(main);
      const peak = peakRssOf(main.child.pid!);
      // Rows: one per request that reached a /v1 proxy endpoint. Memory is sampled once they are
      // written, so records still queued for the database do not count as growth.
      const expectedRows = results.filter((r) => r.req.recorded).length;
      await until(async () => (await countRequestLogs(sqliteTestConfig(dbFile))) >= expectedRows, `${expectedRows} rows`, 60_000, 200);
      const after = await sampleMemory(main);

      const byCategory = new Map<string, number>();
      for (const r of results) byCategory.set(r.req.category, (byCategory.get(r.req.category) ?? 0) + 1);
      const bad = results.filter(
        (r) =>
          r.error !== null ||
          r.status < 400 ||
          r.status > 499 ||
          (r.req.status !== undefined && r.status !== r.req.status) ||
          !isOpenAiError(r.body) ||
          (r.requestId !== null) !== r.req.recorded,
      );
      const shown = bad.slice(0, 5).map((r) => ({ category: r.req.category, method: r.req.method, path: r.req.path.slice(0, 80), headers: Object.keys(r.req.headers), expected: r.req.status, status: r.status, body: r.body.slice(0, 200), id: r.requestId, error: r.error }));
      const badCategories = [...new Set(bad.map((r) => `${r.req.category}:${r.status}`))];
      console.log(
        `[faults/bad-input] ${results.length} requests (${[...byCategory].map(([k, n]) => `${k} ${n}`).join(', ')}); ` +
          `not a clean 4xx OpenAI error: ${bad.length} ${JSON.stringify(badCategories)}; ` +
          `heap after GC ${mb(baseline.heapUsed)} → ${mb(after.heapUsed)}, rss ${mb(baseline.rss)} → ${mb(after.rss)} (peak ${mb(peak)})`,
      );
      expect(shown).toEqual([]);
      expect(results).toHaveLength(WARMUP + CORPUS_SIZE);

      // Exactly one row per answer that carries an x-request-id, which is exactly the /v1 requests.
      expect(results.filter((r) => r.requestId !== null)).toHaveLength(expectedRows);
      expect(await countRequestLogs(sqliteTestConfig(dbFile))).toBe(expectedRows);

      // Client-chosen model names never become metric labels (each would be a series kept for ever).
      const metrics = await (await fetch(`${main.url}/metrics`)).text();
      expect(metrics).not.toContain('no-such-model');
      expect(metrics.length).toBeLessThan(64 * 1024);
      // Memory back to the warm-up baseline.
      expect(after.gc).toBe(true);
      expect(after.heapUsed).toBeLessThan(baseline.heapUsed + HEAP_TOLERANCE);
    } finally {
      await pool.close();
    }
    alive(main);
  }, 120_000);

  it('malformed HTTP that never reaches a route still gets a 4xx OpenAI error', async () => {
    const raw = [
      'GARBAGE\r\n\r\n',
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'GET /v1/models HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n',
      'GET /v1/models HTTP/9.9\r\nHost: x\r\n\r\n',
      `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(20_000)}\r\n\r\n`,
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Null: a\u0000b\r\n\r\n',
    ];
    const { connect } = await import('node:net');
    const host = new URL(main.url);
    const answers = await Promise.all(
      raw.map(
        (text) =>
          new Promise<string>((resolve, reject) => {
            const socket = connect(Number(host.port), host.hostname, () => socket.end(text));
            let data = '';
            socket.setEncoding('latin1');
            socket.on('data', (c: string) => (data += c));
            socket.on('close', () => resolve(data));
            socket.on('error', reject);
          }),
      ),
    );
    for (const [i, a] of answers.entries()) {
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(a)?.[1]);
      expect([i, status >= 400 && status <= 499]).toEqual([i, true]);
      expect([i, isOpenAiError(a.slice(a.indexOf('\r\n\r\n') + 4))]).toEqual([i, true]);
    }
    alive(main);
  });
});
