/**
 * Fault 4: upstream misbehaviour against the real src/main.ts (files + SQLite), three concurrent
 * requests per behaviour. Already covered elsewhere and not repeated: a FIN mid-stream and an idle
 * stall after a first event (proxy-streaming.test.ts), connection reset before any answer, hangs,
 * stalled non-stream bodies (proxy-failures.test.ts). Here: a TCP reset mid-stream, binary garbage
 * as SSE, an SSE line that never ends, a 50 MB JSON body, SSE headers then silence. For each: the
 * client gets a clear answer, the row says what happened, and the proxy's peak RSS stays bounded.
 */
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteTestConfig } from '../helpers/db.ts';
import { MB, MEM_PROBE_ARGS, alive, mb, peakRssOf, resetPeakRss, rssOf, sampleMemory, tempDir, until, withDb, writeMainConfig } from '../helpers/faults.ts';
import { startMain, type MainProcess } from '../helpers/main-process.ts';
import { BIG_BYTES, FIRST_EVENT, startMisbehavingUpstream, type Misbehaviour, type MisbehavingUpstream } from './misbehaving-upstream.ts';

const PER_KIND = 3;
/** Peak RSS above the idle baseline allowed while PER_KIND requests of one kind run. */
const PEAK_RSS_BOUND = 96 * MB;

let up: MisbehavingUpstream;
let main: MainProcess;
let dbFile: string;
let remove: () => void;
const figures: string[] = [];

beforeAll(async () => {
  up = await startMisbehavingUpstream();
  const t = tempDir('upstream');
  remove = t.remove;
  dbFile = join(t.dir, 'yaLLM.db');
  writeMainConfig(t.dir, {
    model_list: (['rst', 'garbage', 'endless', 'big', 'silent'] as const).map((k) => ({
      model_name: k,
      model_params: { api_base: up.base(k), api_key: 'sk-x', request_timeout: 1 },
    })),
    router_settings: { num_retries: 1 },
    proxy_settings: {
      server: { host: '127.0.0.1', port: 0 },
      logging: { dir: join(t.dir, 'requests') },
      timeouts: { stream_idle_ms: 1000, body_ms: 30_000 },
    },
    database: { backend: 'sqlite', connection: { sqlite: { path: dbFile } }, spool_dir: join(t.dir, 'spool') },
  });
  main = await startMain(t.dir, 20_000, { nodeArgs: MEM_PROBE_ARGS });
});

afterAll(async () => {
  if (main?.child.exitCode === null) {
    main.child.kill('SIGTERM');
    expect(await main.exited, main.output()).toBe(0);
  }
  await up?.close();
  remove?.();
  console.log(`[faults/upstream]\n${figures.join('\n')}`);
});

interface Answer {
  status: number;
  id: string;
  contentType: string;
  bytes: number;
  head: string;
  tail: string;
  error: string | null;
}

async function send(kind: Misbehaviour, stream: boolean): Promise<Answer> {
  const res = await request(`${main.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: kind, stream, messages: [{ role: 'user', content: kind }] }),
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  let bytes = 0;
  let head = '';
  let tail = '';
  let error: string | null = null;
  try {
    for await (const chunk of res.body) {
      const b = chunk as Buffer;
      bytes += b.length;
      if (head.length < 4096) head += b.toString('latin1').slice(0, 4096 - head.length);
      tail = (tail + b.toString('latin1')).slice(-4096);
    }
  } catch (err) {
    error = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
  return { status: res.statusCode, id: String(res.headers['x-request-id']), contentType: String(res.headers['content-type']), bytes, head, tail, error };
}

interface Row {
  id: string;
  outcome: string;
  status_code: number;
  errors: unknown;
  backend_attempts: unknown;
  stream_chunks: unknown;
}

const lastAnswers: Partial<Record<Misbehaviour, Answer[]>> = {};
let answered = 0;

async function rowsOf(kind: Misbehaviour): Promise<Row[]> {
  const ids = (lastAnswers[kind] ?? []).map((a) => a.id);
  expect(ids).toHaveLength(PER_KIND);
  return (await withDb(sqliteTestConfig(dbFile), (db) =>
    db.selectFrom('request_logs').select(['id', 'outcome', 'status_code', 'errors', 'backend_attempts', 'stream_chunks']).where('id', 'in', ids).execute(),
  )) as Row[];
}

const parse = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

/** Sends PER_KIND at once; returns the answers, their rows (once all are written) and the peak RSS. */
async function scenario(kind: Misbehaviour, stream: boolean): Promise<{ answers: Answer[]; rows: Row[]; peak: number }> {
  alive(main);
  const before = await sampleMemory(main);
  resetPeakRss(main.child.pid!);
  const answers = await Promise.all(Array.from({ length: PER_KIND }, () => send(kind, stream)));
  const peak = peakRssOf(main.child.pid!) - before.rss;
  const ids = answers.map((a) => a.id);
  let rows: Row[] = [];
  await until(
    async () => {
      rows = (await withDb(sqliteTestConfig(dbFile), (db) =>
        db.selectFrom('request_logs').select(['id', 'outcome', 'status_code', 'errors', 'backend_attempts', 'stream_chunks']).where('id', 'in', ids).execute(),
      )) as Row[];
      return rows.length === PER_KIND;
    },
    `${PER_KIND} ${kind} rows`,
    20_000,
    100,
  );
  const after = await sampleMemory(main);
  figures.push(
    `  ${kind}: ${PER_KIND} requests, peak RSS +${mb(peak)} over ${mb(before.rss)}; after GC rss ${mb(after.rss)}, heap ${mb(before.heapUsed)} → ${mb(after.heapUsed)}`,
  );
  lastAnswers[kind] = answers;
  answered += answers.length;
  expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
  expect(peak).toBeLessThan(PEAK_RSS_BOUND);
  return { answers, rows, peak };
}

/** What a spec-compliant SSE client dispatches from `text` (data of each event, in order). */
function sseEvents(text: string): string[] {
  const out: string[] = [];
  let data: string[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (data.length) out.push(data.join('\n'));
      data = [];
    } else if (line.startsWith('data:')) data.push(line.slice(line.charAt(5) === ' ' ? 6 : 5));
  }
  return out;
}

const errorsOf = (r: Row): { type: string; message: string }[] => parse(r.errors) as { type: string; message: string }[];
const openAiError = (text: string): { message: string; type: string; param: unknown; code: unknown } | null => {
  try {
    const e = (JSON.parse(text) as { error?: { message: string; type: string; param: unknown; code: unknown } }).error;
    return e && typeof e.message === 'string' && 'type' in e && 'param' in e && 'code' in e ? e : null;
  } catch {
    return null;
  }
};

let sent = 0;
let firstHeap = 0;

describe('fault: upstream misbehaviour', () => {
  beforeAll(async () => {
    firstHeap = (await sampleMemory(main)).heapUsed;
  });

  it('connection reset in the middle of a stream: the first event, then one error event; recorded as connection_error', async () => {
    const { answers, rows } = await scenario('rst', true);
    sent += PER_KIND;
    for (const a of answers) {
      expect([a.status, a.error]).toEqual([200, null]);
      const events = sseEvents(a.head);
      expect(events).toHaveLength(2);
      expect(`data: ${events[0]}\n\n`).toBe(FIRST_EVENT);
      expect(openAiError(events[1]!)).toMatchObject({ type: 'upstream_error', code: 'connection_error' });
    }
    for (const r of rows) {
      expect([r.outcome, r.status_code]).toEqual(['error', 200]);
      expect(errorsOf(r).map((e) => e.type)).toEqual(['connection_error']);
    }
  });

  it('binary garbage instead of SSE: memory bounded, one row each', async () => {
    const { answers } = await scenario('garbage', true);
    sent += PER_KIND;
    for (const a of answers) expect(a.error).toBeNull();
  });

  it('binary garbage instead of SSE: the client gets an OpenAI error, the row says the stream was not SSE', async () => {
    const rows = await rowsOf('garbage');
    // Nothing valid arrived before the garbage, so nothing has to be forwarded: a clean 502.
    for (const a of lastAnswers.garbage!) {
      expect(a.status).toBe(502);
      expect(openAiError(a.head)).not.toBeNull();
    }
    for (const r of rows) {
      expect(r.outcome).toBe('error');
      expect(errorsOf(r).map((e) => e.type)).toContain('sse_stream_error');
    }
  });

  it('an SSE line that never ends: memory bounded, cut by the idle timeout, recorded as timeout', async () => {
    const { answers, rows } = await scenario('endless', true);
    sent += PER_KIND;
    for (const a of answers) {
      expect([a.status, a.error]).toEqual([200, null]);
      expect(a.head.startsWith(FIRST_EVENT)).toBe(true);
      expect(a.tail.endsWith('"code":"timeout"}}\n\n')).toBe(true);
    }
    for (const r of rows) {
      expect([r.outcome, r.status_code]).toEqual(['error', 200]);
      expect(errorsOf(r).map((e) => e.type)).toEqual(['timeout']);
    }
  });

  it('an SSE line that never ends: the closing error event is a separate event the client can parse', () => {
    for (const a of lastAnswers.endless!) {
      // The tail holds the end of the endless line; the proxy's error event must start on a fresh line.
      const events = sseEvents(a.tail);
      expect(openAiError(events.at(-1) ?? '')).toMatchObject({ type: 'upstream_error', code: 'timeout' });
    }
  });

  it('a 50 MB JSON body: relayed whole without being held in memory; recorded as success', async () => {
    const { answers, rows } = await scenario('big', false);
    sent += PER_KIND;
    for (const a of answers) {
      expect([a.status, a.error, a.bytes]).toEqual([200, null, BIG_BYTES]);
      expect(a.tail.endsWith('"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}')).toBe(true);
    }
    for (const r of rows) expect([r.outcome, r.status_code, errorsOf(r)]).toEqual(['success', 200, []]);
  });

  it('SSE headers, then silence: a 502 OpenAI error after the timeout, recorded as timeout', async () => {
    const { answers, rows } = await scenario('silent', true);
    sent += PER_KIND;
    for (const a of answers) {
      expect([a.status, a.error]).toEqual([502, null]);
      expect(openAiError(a.head)).toMatchObject({ type: 'upstream_error', code: 'all_backends_failed' });
      expect(openAiError(a.head)!.message).toMatch(/idle timeout/);
    }
    for (const r of rows) {
      expect([r.outcome, r.status_code]).toEqual(['error', 502]);
      expect(errorsOf(r).map((e) => e.type)).toEqual(['timeout', 'http_error']);
    }
  });

  it('afterwards: still up, heap back to its baseline, one row per request sent', async () => {
    alive(main);
    const after = await sampleMemory(main);
    expect(after.gc).toBe(true);
    figures.push(`  heap after GC: ${mb(firstHeap)} before the first scenario, ${mb(after.heapUsed)} after the last; rss ${mb(rssOf(main.child.pid!))}`);
    expect(after.heapUsed).toBeLessThan(firstHeap + 16 * MB);
    const rows = await withDb(sqliteTestConfig(dbFile), async (db) => Number((await db.selectFrom('request_logs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n));
    expect(sent).toBe(5 * PER_KIND);
    expect(answered).toBe(sent);
    expect(rows).toBe(sent);
  });
});
