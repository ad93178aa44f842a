import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileSink, fileBaseName } from '../src/logging/files.ts';
import type { BackendAttempt, RecordedError, RequestRecord } from '../src/logging/types.ts';
import { chatRecord } from './helpers/records.ts';

const tempDirs: string[] = [];
afterEach(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'yallmp-files-'));
  tempDirs.push(dir);
  return dir;
}

const TIME = '2026-11-27T09:48:59.123Z';
const STAMP = '20261127T094859.123Z';

/** The shared chat record (helpers/records.ts) at this suite's fixed id and time, without usage. */
function record(over: Partial<RequestRecord> = {}): RequestRecord {
  return chatRecord(0, {
    id: '3f2a9c1e-1111-4222-8333-444455556666',
    requestTime: TIME,
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-****' },
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
    usage: null,
    finishReason: null,
    ...over,
  });
}

function attempt(over: Partial<BackendAttempt> = {}): BackendAttempt {
  return {
    backend: 'gpt-4o-mini',
    attempt: 1,
    url: 'https://api.openai.com/v1/chat/completions',
    status: 200,
    durationMs: 850,
    ttfbMs: 120,
    error: null,
    errorType: null,
    responseHeaders: { 'content-type': 'application/json' },
    responseBody: null,
    ...over,
  };
}

function error(over: Partial<RecordedError> = {}): RecordedError {
  return {
    time: '2026-11-27T09:48:59.140Z',
    type: 'http_retryable',
    message: 'gpt-4o-mini returned retryable status 503',
    backend: 'gpt-4o-mini',
    httpStatus: 503,
    context: null,
    ...over,
  };
}

/** Publishes, waits for the drain, and returns the pair as (parsed JSON, log text). */
async function writeOne(r: RequestRecord): Promise<{ base: string; json: unknown; log: string; dir: string }> {
  const dir = tempDir();
  const sink = createFileSink({ dir });
  sink.publish(r);
  await sink.close();
  expect(sink.stats).toEqual({ written: 1, dropped: 0, failed: 0, queued: 0 });
  const base = fileBaseName(r);
  return {
    base,
    dir,
    json: JSON.parse(readFileSync(join(dir, `${base}.json`), 'utf8')),
    log: readFileSync(join(dir, `${base}.log`), 'utf8'),
  };
}

describe('file names', () => {
  it('is <UTC stamp>-<id[:8]>_<safe model>', () => {
    expect(fileBaseName(record())).toBe(`${STAMP}-3f2a9c1e_gpt-4o-mini`);
    expect(fileBaseName(record({ model: 'openai/gpt-4o:free v2' }))).toBe(`${STAMP}-3f2a9c1e_openai_gpt-4o_free_v2`);
    expect(fileBaseName(record({ model: '../../etc/passwd' }))).toBe(`${STAMP}-3f2a9c1e_.._.._etc_passwd`);
    expect(fileBaseName(record({ model: 'x'.repeat(100) }))).toBe(`${STAMP}-3f2a9c1e_${'x'.repeat(64)}`);
    expect(fileBaseName(record({ model: '' }))).toBe(`${STAMP}-3f2a9c1e_unknown`);
  });
});

describe('file sink content', () => {
  it('success, non-stream: exact snapshot and a readable transcript', async () => {
    const r = record({
      query: 'x=1',
      attempts: [attempt({ responseBody: '{"id":"cmpl-1","choices":[]}' })],
      usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
      finishReason: 'stop',
      responseBody: '{"id":"cmpl-1","choices":[]}',
    });
    const { base, json, log, dir } = await writeOne(r);
    expect(readdirSync(dir).sort()).toEqual([`${base}.json`, `${base}.log`]);
    expect(json).toEqual({
      id: r.id,
      time: TIME,
      model: 'gpt-4o-mini',
      stream: false,
      path: '/v1/chat/completions',
      method: 'POST',
      query: 'x=1',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-****' },
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
      route: ['gpt-4o-mini'],
      outcome: 'success',
      status_code: 200,
      backend: 'gpt-4o-mini',
      usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
      finish_reason: 'stop',
      duration_ms: 870,
      ttfb_ms: 120,
      attempts: [
        {
          backend: 'gpt-4o-mini',
          attempt: 1,
          url: 'https://api.openai.com/v1/chat/completions',
          status: 200,
          duration_ms: 850,
          ttfb_ms: 120,
          error: null,
          error_type: null,
          response_headers: { 'content-type': 'application/json' },
          response_body: '{"id":"cmpl-1","choices":[]}',
        },
      ],
      errors: [],
    });
    expect(log.startsWith(`=== yaLLMproxy request ${r.id}  ${TIME}\n`)).toBe(true);
    expect(log).toContain('POST /v1/chat/completions?x=1   model=gpt-4o-mini   stream=false\n');
    expect(log).toContain('route: gpt-4o-mini\n');
    // Already-masked values survive the second pass unchanged (no "Bearer ****" degradation).
    expect(log).toContain('authorization: Bearer sk-****\n');
    expect(log).toContain('--- attempt 1 · gpt-4o-mini · POST https://api.openai.com/v1/chat/completions\n');
    expect(log).toContain('status: 200  (850 ms, ttfb 120 ms)\n');
    expect(log).toContain('response body: (sent to the client, below)\n');
    expect(log).toContain('--- response body (non-stream)\n{\n  "id": "cmpl-1",');
    expect(log.split('"cmpl-1"')).toHaveLength(2);
    expect(log.endsWith(
      '=== outcome: success   status: 200   backend: gpt-4o-mini   duration: 870 ms   ttfb: 120 ms   finish: stop   usage: prompt 5 / completion 7 / total 12\n',
    )).toBe(true);
  });

  it('stream: chunks and their drop count are in the transcript', async () => {
    const chunks = ['data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n', 'data: {"choices":[{"delta":{"content":"lo"}}]}\n\ndata: [DONE]\n\n'];
    const r = record({
      isStream: true,
      attempts: [attempt({ responseHeaders: { 'content-type': 'text/event-stream' } })],
      streamChunks: chunks,
      streamChunksDropped: 3,
      finishReason: 'stop',
      responseBody: chunks[0]!,
    });
    const { json, log } = await writeOne(r);
    expect(json).toMatchObject({ stream: true, finish_reason: 'stop', attempts: [{ status: 200 }] });
    expect(log).toContain('stream=true');
    expect(log).toContain(`--- stream chunks (2 captured, 3 dropped)\n${chunks.join('').trimEnd()}\n`);
    expect(log).not.toContain('--- response body');
  });

  it('fallback: every attempt, every error, the final backend', async () => {
    const r = record({
      route: ['gpt-4o-mini', 'llama-3.3-70b'],
      attempts: [
        attempt({
          status: 503,
          durationMs: 12,
          ttfbMs: 10,
          error: 'gpt-4o-mini returned retryable status 503',
          errorType: 'http_retryable',
          responseBody: '{"error":{"message":"overloaded"}}',
        }),
        attempt({ backend: 'llama-3.3-70b', url: 'http://10.0.0.5:8000/v1/chat/completions' }),
      ],
      errors: [error()],
      backendName: 'llama-3.3-70b',
    });
    const { json, log } = await writeOne(r);
    expect(json).toMatchObject({
      backend: 'llama-3.3-70b',
      route: ['gpt-4o-mini', 'llama-3.3-70b'],
      attempts: [
        { backend: 'gpt-4o-mini', status: 503, error_type: 'http_retryable' },
        { backend: 'llama-3.3-70b', status: 200, url: 'http://10.0.0.5:8000/v1/chat/completions' },
      ],
      errors: [
        {
          time: '2026-11-27T09:48:59.140Z',
          type: 'http_retryable',
          message: 'gpt-4o-mini returned retryable status 503',
          backend: 'gpt-4o-mini',
          http_status: 503,
          context: null,
        },
      ],
    });
    expect(log).toContain('route: gpt-4o-mini -> llama-3.3-70b\n');
    expect(log).toContain('status: 503  (12 ms, ttfb 10 ms)\nerror [http_retryable]: gpt-4o-mini returned retryable status 503\n');
    expect(log).toContain('response body:\n{\n  "error": {');
    expect(log).toContain('--- attempt 1 · llama-3.3-70b · POST http://10.0.0.5:8000/v1/chat/completions\nstatus: 200');
    expect(log).toContain(
      '--- errors\n2026-11-27T09:48:59.140Z  http_retryable  gpt-4o-mini  503  gpt-4o-mini returned retryable status 503\n',
    );
    expect(log).toContain('=== outcome: success   status: 200   backend: llama-3.3-70b');
  });

  it("validation error: model 'unknown', no route, text body", async () => {
    const r = record({
      model: 'unknown',
      body: '{not json',
      route: [],
      outcome: 'error',
      statusCode: 400,
      backendName: null,
      ttfbMs: null,
      durationMs: 1,
      errors: [error({ type: 'invalid_request', message: 'invalid json', backend: null, httpStatus: 400 })],
      responseBody: '{"error":{"message":"invalid json","code":"invalid_json"}}',
    });
    const { base, json, log } = await writeOne(r);
    expect(base).toBe(`${STAMP}-3f2a9c1e_unknown`);
    expect(json).toMatchObject({ model: 'unknown', body: '{not json', route: [], outcome: 'error', status_code: 400, backend: null, ttfb_ms: null });
    expect(log).toContain('route: (none)\n');
    expect(log).toContain('--- request body\n{not json\n');
    expect(log).toContain('invalid_request  -  400  invalid json');
    expect(log.endsWith('=== outcome: error   status: 400   duration: 1 ms\n')).toBe(true);
  });

  it('cancelled: outcome, disconnect error, usage seen so far', async () => {
    const r = record({
      isStream: true,
      outcome: 'cancelled',
      statusCode: 200,
      attempts: [attempt()],
      streamChunks: ['data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'],
      errors: [error({ type: 'client_disconnect', message: 'client disconnected', httpStatus: null })],
      usage: { prompt_tokens: 5 },
    });
    const { json, log } = await writeOne(r);
    expect(json).toMatchObject({ outcome: 'cancelled', usage: { prompt_tokens: 5 } });
    expect(log).toContain('client_disconnect  gpt-4o-mini  -  client disconnected');
    expect(log).toContain('=== outcome: cancelled   status: 200');
    expect(log).toContain('usage: prompt 5 / completion ? / total ?');
  });
});

describe('file sink secrets', () => {
  it('masks unmasked credentials in request and response headers and in URLs', async () => {
    const r = record({
      query: 'key=PLANTED-QUERY-KEY-123&x=1',
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer sk-live-PLANTED-SECRET-0123456789',
        'X-Api-Key': 'PLANTED-XAPIKEY-abcdef',
        cookie: 'sid=PLANTED-COOKIE',
      },
      attempts: [
        attempt({
          url: 'https://user:PLANTED-PASSWORD@generativelanguage.example/v1/chat?key=PLANTED-URL-KEY-999&alt=sse',
          responseHeaders: { 'content-type': 'application/json', 'set-cookie': 'session=PLANTED-SET-COOKIE; Path=/' },
        }),
      ],
    });
    const { base, dir, json, log } = await writeOne(r);
    for (const ext of ['json', 'log']) expect(readFileSync(join(dir, `${base}.${ext}`), 'utf8')).not.toContain('PLANTED');
    expect(json).toMatchObject({
      query: 'key=PLA****&x=1',
      headers: { authorization: 'Bearer sk-****', 'x-api-key': 'PLA****', cookie: 'sid****' },
      attempts: [
        {
          url: 'https://user:****@generativelanguage.example/v1/chat?key=PLA****&alt=sse',
          response_headers: { 'set-cookie': 'ses****' },
        },
      ],
    });
    expect(log).toContain('set-cookie: ses****');
  });

  it('masks configured extra headers', async () => {
    const dir = tempDir();
    const sink = createFileSink({ dir, redactHeaders: ['X-Tenant-Token'] });
    sink.publish(record({ headers: { 'x-tenant-token': 'PLANTED-TENANT-TOKEN' } }));
    await sink.close();
    for (const name of readdirSync(dir)) expect(readFileSync(join(dir, name), 'utf8')).not.toContain('PLANTED');
  });
});

/** A path under `root` that can never be a directory (a plain file is in the way). */
function blocker2(root: string): string {
  const file = join(root, 'also-not-a-dir');
  writeFileSync(file, 'x');
  return join(file, 'requests');
}

describe('file sink queueing', () => {
  it('publish returns before anything is written; close drains', async () => {
    const dir = join(tempDir(), 'logs', 'requests');
    const sink = createFileSink({ dir });
    const r = record();
    const started = performance.now();
    sink.publish(r);
    const elapsed = performance.now() - started;
    expect(existsSync(dir)).toBe(false);
    expect(sink.stats).toEqual({ written: 0, dropped: 0, failed: 0, queued: 1 });
    expect(elapsed).toBeLessThan(50);
    await sink.close();
    expect(existsSync(join(dir, `${fileBaseName(r)}.json`))).toBe(true);
    expect(existsSync(join(dir, `${fileBaseName(r)}.log`))).toBe(true);
  });

  it('bounds the queue: overflow is counted and reported once per burst', async () => {
    const dir = tempDir();
    const errors: unknown[] = [];
    const sink = createFileSink({ dir, maxQueue: 5, onError: (e) => errors.push(e) });
    for (let i = 0; i < 20; i++) sink.publish(record({ id: `0000000${i.toString(16)}`.slice(-8) + '-x' }));
    expect(sink.stats).toMatchObject({ dropped: 15, queued: 5 });
    await sink.close();
    expect(sink.stats).toEqual({ written: 5, dropped: 15, failed: 0, queued: 0 });
    expect(readdirSync(dir)).toHaveLength(10);
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/queue full/);
    // After the backlog drained, a new overflow is a new burst and is reported again.
    for (let i = 0; i < 6; i++) sink.publish(record({ id: `1000000${i}-y` }));
    await sink.close();
    expect(sink.stats).toEqual({ written: 10, dropped: 16, failed: 0, queued: 0 });
    expect(errors).toHaveLength(2);
  });

  it('bounds the bytes waiting for the writer thread too: large records beyond it are dropped and counted', async () => {
    const dir = tempDir();
    const errors: unknown[] = [];
    const size = JSON.stringify(record()).length;
    const sink = createFileSink({ dir, maxQueueBytes: Math.floor(size * 2.5), onError: (e) => errors.push(e) });
    for (let i = 0; i < 6; i++) sink.publish(record({ id: `2000000${i}-z` }));
    await sink.close();
    // One loop turn hands over what fits in 2.5 records' worth of bytes: two; four are dropped.
    expect(sink.stats).toEqual({ written: 2, dropped: 4, failed: 0, queued: 0 });
    expect(readdirSync(dir)).toHaveLength(4);
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/queue full \(\d+ bytes of records waiting\)/);
    // Once written, the bytes are free again.
    sink.publish(record({ id: '30000000-w' }));
    await sink.close();
    expect(sink.stats).toEqual({ written: 3, dropped: 4, failed: 0, queued: 0 });
  });

  it('drains a 300-record backlog (two messages to the writer thread)', async () => {
    const dir = tempDir();
    const sink = createFileSink({ dir });
    for (let i = 0; i < 300; i++) sink.publish(record({ id: String(i).padStart(8, '0') }));
    await sink.close();
    expect(sink.stats).toEqual({ written: 300, dropped: 0, failed: 0, queued: 0 });
    expect(readdirSync(dir)).toHaveLength(600);
  });

  it('a write failure is counted and reported; the sink keeps working', async () => {
    const root = tempDir();
    const blocker = join(root, 'not-a-dir');
    writeFileSync(blocker, 'x');
    const errors: unknown[] = [];
    const broken = createFileSink({ dir: blocker, onError: (e) => errors.push(e) });
    broken.publish(record({ id: 'aaaaaaaa-1' }));
    broken.publish(record({ id: 'bbbbbbbb-2' }));
    await broken.close();
    expect(broken.stats).toEqual({ written: 0, dropped: 0, failed: 2, queued: 0 });
    // Consecutive failures are one run: reported once, each one counted.
    expect(errors).toHaveLength(1);
    expect((errors[0] as NodeJS.ErrnoException).code).toMatch(/EEXIST|ENOTDIR/);

    // The same sink recovers once the path is usable (mkdir is retried after a failure).
    rmSync(blocker);
    broken.publish(record({ id: 'cccccccc-3' }));
    await broken.close();
    expect(broken.stats).toMatchObject({ written: 1, failed: 2 });

    // A run that goes on is reported again once per interval, with the count since the last report.
    const every = createFileSink({ dir: blocker2(root), errorIntervalMs: 40, onError: (e) => errors.push(e) });
    every.publish(record({ id: 'dddddddd-4' }));
    every.publish(record({ id: 'eeeeeeee-5' }));
    await every.close();
    expect(errors).toHaveLength(2);
    every.publish(record({ id: 'ffffffff-6' }));
    await every.close();
    expect(errors).toHaveLength(2);
    await new Promise((resolve) => setTimeout(resolve, 60));
    every.publish(record({ id: '99999999-7' }));
    await every.close();
    expect(errors).toHaveLength(3);
    expect(String(errors[2])).toContain('(2 record(s) failed since the last report)');
    expect(every.stats).toEqual({ written: 0, dropped: 0, failed: 4, queued: 0 });

    // And a sink pointed at a good directory is unaffected.
    const good = createFileSink({ dir: join(root, 'good') });
    good.publish(record());
    await good.close();
    expect(good.stats).toEqual({ written: 1, dropped: 0, failed: 0, queued: 0 });
  });
});
