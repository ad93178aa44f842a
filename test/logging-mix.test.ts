/**
 * The whole logging path on both dialects: a served proxy with the real sinks (files + database
 * writer, SQLite through its worker thread) takes a scripted mix of requests; afterwards both
 * tables and the files hold exactly the expected values, and the two dialects hold the same rows
 * (ids, times, durations and ports normalised).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { Dialect } from '../src/db/dialect.ts';
import { decodeRow } from '../src/db/dialect.ts';
import { errorLogId } from '../src/db/rows.ts';
import { ERROR_LOG_COLUMNS, REQUEST_LOG_COLUMNS } from '../src/db/schema.ts';
import { createSinks } from '../src/logging/sinks.ts';
import { startProxy } from '../src/server.ts';
import { withDialect } from './helpers/db.ts';
import { startFakeUpstream } from './helpers/fake-upstream.ts';
import type { FakeUpstream } from './helpers/fake-upstream.ts';
import { configFrom, model, testLogger } from './helpers/proxy.ts';
import type { Behaviour } from './helpers/fake-upstream.ts';

const pgUrl = inject('pgUrl');

interface Sent {
  readonly name: string;
  readonly status: number;
  readonly id: string;
}

/** node:http rather than fetch: the request headers (and so the logged ones) stay fixed. */
function send(url: string, body: string, cancelAfterFirstChunk = false): Promise<{ status: number; id: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/chat/completions`,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: 'Bearer sk-client-secret-123456' } },
      (res) => {
        const done = (): void => resolve({ status: res.statusCode ?? 0, id: String(res.headers['x-request-id'] ?? '') });
        if (cancelAfterFirstChunk) {
          res.once('data', () => {
            req.destroy();
            done();
          });
        } else {
          res.resume();
          res.on('end', done);
        }
      },
    );
    req.on('error', (err) => (cancelAfterFirstChunk ? undefined : reject(err)));
    req.end(body);
  });
}

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Replaces what legitimately differs between runs and dialects; everything else must match. */
function normaliser(sent: readonly Sent[], ports: readonly number[]) {
  const names = new Map(sent.map((s) => [s.id, `<${s.name}>`]));
  const portRe = new RegExp(`:(${ports.join('|')})\\b`, 'g');
  const walk = (value: unknown, key = ''): unknown => {
    if (typeof value === 'string') {
      if (names.has(value)) return names.get(value);
      if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(value)) return '<time>';
      if (key === 'date') return '<date>';
      return value.replace(portRe, ':<port>');
    }
    if (typeof value === 'number' && /(^|_)(ms|duration_ms|ttfb_ms)$/.test(key)) return '<ms>';
    // How the stream's bytes were cut into chunks depends on TCP timing; the text does not.
    if (key === 'stream_chunks' && Array.isArray(value)) return [value.join('')];
    if (Array.isArray(value)) return value.map((v) => walk(v));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, k)]));
    }
    return value;
  };
  return walk;
}

type Result = { requests: unknown[]; errors: unknown[] };
const results = new Map<Dialect, Result>();
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A port nothing listens on: connecting is refused at once, the same way every run. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function runMix(dialect: Dialect, up: FakeUpstream): Promise<Result> {
  const dead = await closedPort();
  const deadBase = (name: string): string => `http://127.0.0.1:${dead}/${name}/v1`;
  const t = await withDialect(dialect, pgUrl);
  cleanups.push(() => t.close());
  const dir = mkdtempSync(join(tmpdir(), 'yallmp-mix-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const logDir = join(dir, 'requests');
  const database = dialect === 'sqlite'
    ? { backend: 'sqlite', connection: { sqlite: { path: t.config.sqlite.path } } }
    : { backend: 'postgres', connection: { postgres: t.config.postgres } };
  const config = configFrom({
    model_list: [model('alpha', up.base('alpha')), model('beta', up.base('beta')), model('dead', deadBase('dead')), model('dead2', deadBase('dead2'))],
    router_settings: { num_retries: 1, fallbacks: [{ alpha: ['beta'] }, { dead: ['dead2'] }] },
    proxy_settings: { logging: { dir: logDir }, retry: { base_delay_ms: 0 } },
    database: { ...database, spool_dir: join(dir, 'spool'), batch: { max_rows: 100, max_ms: 10 } },
  });
  const log = testLogger();
  const sinks = await createSinks({ config, rootDir: dir, log });
  const proxy = await startProxy({ config, sink: sinks.sink, log, host: '127.0.0.1', port: 0 });
  const sent: Sent[] = [];
  try {
    for (const step of SCRIPT) {
      for (const [prefix, behaviours] of Object.entries(step.upstream)) up.script(prefix, behaviours);
      const res = await send(proxy.url, JSON.stringify(step.body), step.cancel === true);
      sent.push({ name: step.name, ...res });
      await until(() => proxy.counters.snapshot().ongoing === 0, `${step.name} finished`);
      up.reset();
    }
  } finally {
    await proxy.close(1000);
    await sinks.close();
  }
  expect(sent.map((s) => [s.name, s.status])).toEqual(SCRIPT.map((s) => [s.name, s.status]));
  expect(sinks.database).toMatchObject({ written: SCRIPT.length, spooled: 0, dropped: 0, writeErrors: 0 });
  expect(log.lines.filter((l) => !l.startsWith('info'))).toEqual([]);

  const norm = normaliser(sent, [up.port, proxy.port, dead]);
  const order = new Map(sent.map((s, i) => [s.id, i]));
  const byRequest = (id: unknown): number => order.get(String(id)) ?? -1;
  const requests = (await t.db.selectFrom('request_logs').selectAll().execute())
    .map((r) => decodeRow(dialect, REQUEST_LOG_COLUMNS, r))
    .sort((a, b) => byRequest(a.id) - byRequest(b.id));
  // error_logs ids are derived from (request id, position): recover the position, which also
  // proves the derivation, and order by it (two errors can share a millisecond).
  const position = (e: { id: string; request_log_id: string | null }): number =>
    [0, 1, 2, 3, 4].find((i) => errorLogId(String(e.request_log_id), i) === e.id) ?? -1;
  const errors = (await t.db.selectFrom('error_logs').selectAll().execute())
    .map((r) => decodeRow(dialect, ERROR_LOG_COLUMNS, r))
    .sort((a, b) => byRequest(a.request_log_id) - byRequest(b.request_log_id) || position(a) - position(b));
  expect(errors.map(position)).not.toContain(-1);

  // The files: one pair per request, and the .json says what the row says.
  const files = readdirSync(logDir).sort();
  expect(files).toHaveLength(2 * SCRIPT.length);
  for (const row of requests) {
    const base = files.find((f) => f.endsWith('.json') && f.includes(`-${row.id.slice(0, 8)}_`))!;
    const json = JSON.parse(readFileSync(join(logDir, base), 'utf8')) as Record<string, unknown>;
    expect(norm(json)).toMatchObject(
      norm({
        id: row.id,
        model: row.model_name,
        stream: row.is_stream,
        headers: row.headers,
        body: row.body,
        route: row.route,
        outcome: row.outcome,
        status_code: row.status_code,
        backend: row.backend_name,
        usage: row.usage_stats,
        finish_reason: row.finish_reason,
        attempts: row.backend_attempts,
        errors: row.errors,
      }) as Record<string, unknown>,
    );
    const transcript = readFileSync(join(logDir, base.replace(/\.json$/, '.log')), 'utf8');
    expect(transcript).toContain(`=== outcome: ${row.outcome}`);
  }
  return { requests: requests.map((r) => norm(r)), errors: errors.map((r) => norm({ ...r, id: `#${position(r)}` })) };
}

describe('scripted mix: rows and files', () => {
  let up: FakeUpstream;
  afterAll(async () => {
    await up?.close();
  });

  it.each(['sqlite', 'postgres'] as const)('%s holds exactly the expected rows', async (dialect) => {
    up ??= await startFakeUpstream();
    const result = await runMix(dialect, up);
    results.set(dialect, result);
    expect(result.requests).toEqual(EXPECTED_REQUESTS);
    expect(result.errors).toEqual(EXPECTED_ERRORS);
  });

  it('both dialects hold identical rows', () => {
    expect(results.get('postgres')).toEqual(results.get('sqlite'));
  });
});

// ---------------------------------------------------------------------------------------------
// The script and what it must leave behind

const CREATED = 1767787200;
const sse = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`;
const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
  sse({ id: 'chatcmpl-s', object: 'chat.completion.chunk', created: CREATED, model: 'up-model', choices, ...extra });
const STREAM = [
  chunk([{ index: 0, delta: { role: 'assistant', content: 'Hel' }, finish_reason: null }]),
  chunk([{ index: 0, delta: { content: 'lo' }, finish_reason: null }]),
  chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]),
  chunk([], { usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } }),
  'data: [DONE]\n\n',
];
const COMPLETION = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: CREATED,
  model: 'up-model',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
};
const BAD_TEMPERATURE = { error: { message: 'temperature must be <= 2', type: 'invalid_request_error', param: 'temperature', code: null } };
const messages = [{ role: 'user', content: 'hi' }];

interface Step {
  readonly name: string;
  readonly body: Record<string, unknown>;
  readonly upstream: Readonly<Record<string, Behaviour[]>>;
  readonly status: number;
  readonly cancel?: boolean;
}

const SCRIPT: readonly Step[] = [
  { name: 'success', body: { model: 'alpha', messages }, upstream: { alpha: [{ kind: 'status', status: 200, body: COMPLETION }] }, status: 200 },
  { name: 'stream', body: { model: 'alpha', messages, stream: true }, upstream: { alpha: [{ kind: 'stream', events: STREAM }] }, status: 200 },
  {
    name: 'fallback',
    body: { model: 'alpha', messages },
    upstream: { alpha: [{ kind: 'status', status: 503 }], beta: [{ kind: 'status', status: 200, body: COMPLETION }] },
    status: 200,
  },
  { name: 'all-failed', body: { model: 'dead', messages }, upstream: {}, status: 502 },
  {
    name: 'upstream-400',
    body: { model: 'alpha', messages, temperature: 9 },
    upstream: { alpha: [{ kind: 'status', status: 400, body: BAD_TEMPERATURE }] },
    status: 400,
  },
  { name: 'invalid', body: { model: 'alpha' }, upstream: {}, status: 400 },
  {
    name: 'cancel',
    body: { model: 'alpha', messages, stream: true },
    upstream: { alpha: [{ kind: 'stream', events: STREAM.slice(0, 1), thenHang: true }] },
    status: 200,
    cancel: true,
  },
];

const url = (backend: string): string => `http://127.0.0.1:<port>/${backend}/v1/chat/completions`;
const json = (v: unknown): string => JSON.stringify(v);
const upstreamError = (status: number) => ({ error: { message: `fake upstream error ${status}`, type: 'server_error', param: null, code: null } });
const USAGE_5_7 = { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 };
const USAGE_3_2 = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };

function headers(contentLength: number) {
  return { authorization: 'Bearer sk-****', connection: 'keep-alive', 'content-length': String(contentLength), 'content-type': 'application/json', host: '127.0.0.1:<port>' };
}

function attempt(name: string, backend: string, over: Record<string, unknown> = {}) {
  return {
    backend,
    attempt: 1,
    url: url(backend),
    status: 200,
    duration_ms: '<ms>',
    ttfb_ms: '<ms>',
    error: null,
    error_type: null,
    response_headers: { 'content-type': 'application/json', date: '<date>', 'x-request-id': `<${name}>` },
    response_body: null,
    ...over,
  };
}

const streamHeaders = (name: string) => ({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', date: '<date>', 'x-request-id': `<${name}>` });

interface Err {
  type: string;
  message: string;
  backend: string | null;
  status: number | null;
  context: Record<string, unknown> | null;
}

/** One error as the `errors` column holds it, and as its `error_logs` row. */
const asColumn = (e: Err) => ({ time: '<time>', type: e.type, message: e.message, backend: e.backend, http_status: e.status, context: e.context });
const asRow = (name: string, model: string, e: Err, i: number) => ({
  id: `#${i}`,
  timestamp: '<time>',
  model_name: model,
  error_type: e.type,
  error_message: e.message,
  backend_name: e.backend,
  http_status: e.status,
  request_path: '/v1/chat/completions',
  request_log_id: `<${name}>`,
  extra_context: e.context,
  created_at: '<time>',
});

const refused = (backend: string): Err => ({
  type: 'connection_error',
  message: `${backend} request error: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:<port>`,
  backend,
  status: null,
  context: { url: url(backend), attempt: 1 },
});

const ERRORS: Record<string, { model: string; errors: Err[] }> = {
  fallback: {
    model: 'alpha',
    errors: [{ type: 'http_retryable', message: 'alpha returned retryable status 503', backend: 'alpha', status: 503, context: { url: url('alpha'), attempt: 1, body: json(upstreamError(503)) } }],
  },
  'all-failed': {
    model: 'dead',
    errors: [
      refused('dead'),
      refused('dead2'),
      {
        type: 'http_error',
        message: "All backends failed for model 'dead' (tried: dead, dead2); last error: dead2: dead2 request error: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:<port>",
        backend: null,
        status: 502,
        context: null,
      },
    ],
  },
  'upstream-400': {
    model: 'alpha',
    errors: [{ type: 'http_error', message: 'alpha returned status 400', backend: 'alpha', status: 400, context: { url: url('alpha'), attempt: 1, body: json(BAD_TEMPERATURE) } }],
  },
  invalid: { model: 'alpha', errors: [{ type: 'invalid_request', message: 'You must provide a messages array', backend: null, status: 400, context: null }] },
  cancel: { model: 'alpha', errors: [{ type: 'client_disconnect', message: 'client disconnected during stream', backend: 'alpha', status: null, context: null }] },
};

function row(name: string, over: Record<string, unknown>) {
  return {
    id: `<${name}>`,
    request_time: '<time>',
    model_name: 'alpha',
    is_stream: false,
    path: '/v1/chat/completions',
    method: 'POST',
    query: '',
    headers: headers(61),
    body: { model: 'alpha', messages },
    route: ['alpha', 'beta'],
    backend_attempts: [],
    stream_chunks: null,
    errors: (ERRORS[name]?.errors ?? []).map(asColumn),
    usage_stats: null,
    outcome: 'success',
    duration_ms: '<ms>',
    created_at: '<time>',
    status_code: 200,
    backend_name: 'alpha',
    finish_reason: null,
    prompt_tokens: null,
    completion_tokens: null,
    total_tokens: null,
    ttfb_ms: '<ms>',
    client_key: null,
    ...over,
  };
}

const usage = (u: typeof USAGE_5_7) => ({ usage_stats: u, prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, total_tokens: u.total_tokens, finish_reason: 'stop' });

const EXPECTED_REQUESTS: unknown[] = [
  row('success', { backend_attempts: [attempt('success', 'alpha', { response_body: json(COMPLETION) })], ...usage(USAGE_5_7) }),
  row('stream', {
    is_stream: true,
    headers: headers(75),
    body: { model: 'alpha', messages, stream: true },
    backend_attempts: [attempt('stream', 'alpha', { response_headers: streamHeaders('stream') })],
    stream_chunks: [STREAM.join('')],
    ...usage(USAGE_3_2),
  }),
  row('fallback', {
    backend_attempts: [
      attempt('fallback', 'alpha', { status: 503, error: 'alpha returned retryable status 503', error_type: 'http_retryable', response_body: json(upstreamError(503)) }),
      attempt('fallback', 'beta', { response_body: json(COMPLETION) }),
    ],
    backend_name: 'beta',
    ...usage(USAGE_5_7),
  }),
  row('all-failed', {
    model_name: 'dead',
    headers: headers(60),
    body: { model: 'dead', messages },
    route: ['dead', 'dead2'],
    backend_attempts: ['dead', 'dead2'].map((b) =>
      attempt('all-failed', b, { status: null, ttfb_ms: null, error: refused(b).message, error_type: 'connection_error', response_headers: null }),
    ),
    outcome: 'error',
    status_code: 502,
    backend_name: null,
    ttfb_ms: null,
  }),
  row('upstream-400', {
    headers: headers(77),
    body: { model: 'alpha', messages, temperature: 9 },
    backend_attempts: [
      attempt('upstream-400', 'alpha', { status: 400, error: 'alpha returned status 400', error_type: 'http_error', response_body: json(BAD_TEMPERATURE) }),
    ],
    outcome: 'error',
    status_code: 400,
    ttfb_ms: null,
  }),
  row('invalid', { headers: headers(17), body: { model: 'alpha' }, route: [], outcome: 'error', status_code: 400, backend_name: null, ttfb_ms: null }),
  row('cancel', {
    is_stream: true,
    headers: headers(75),
    body: { model: 'alpha', messages, stream: true },
    backend_attempts: [attempt('cancel', 'alpha', { error: 'client disconnected', error_type: 'client_disconnect', response_headers: streamHeaders('cancel') })],
    stream_chunks: [STREAM[0]],
    outcome: 'cancelled',
  }),
];

const EXPECTED_ERRORS: unknown[] = SCRIPT.flatMap((step) => {
  const e = ERRORS[step.name];
  return e ? e.errors.map((err, i) => asRow(step.name, e.model, err, i)) : [];
});
