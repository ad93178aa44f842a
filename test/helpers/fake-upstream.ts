/**
 * A scriptable fake OpenAI-compatible upstream: a real `node:http` server on an ephemeral port.
 *
 * Used by the integration tests (behaviours scripted per backend prefix), the benchmark and
 * `npm run demo` — so it must not import vitest, and the hot path (`ok`) stays lean: no
 * per-request work beyond parsing the body and serialising the answer, keep-alive on.
 *
 * URL layout: every backend gets its own prefix, `${origin}/<prefix>/v1/...`, so one server
 * can stand in for many backends and each one's behaviour queue is independent.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse, OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Usage } from '../../src/logging/types.ts';

export type { Usage };

export type Behaviour =
  /** JSON completion, or an SSE stream when the request body has `"stream": true`. */
  | { kind: 'ok'; content?: string; usage?: Usage | null; delayMs?: number; headers?: Record<string, string> }
  /** An error (or any) status; `body` defaults to an OpenAI error object, strings are sent verbatim. */
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number }
  /** Read the body, never answer (until the client or `close()` ends the connection). */
  | { kind: 'hang' }
  /** Send 200 + SSE headers, then nothing. */
  | { kind: 'hang-after-headers' }
  /** Raw SSE payloads, each element written verbatim as one write, `delayMs` between writes. */
  | {
      kind: 'stream';
      events: string[];
      delayMs?: number;
      status?: number;
      headers?: Record<string, string>;
      thenHang?: boolean;
      thenDrop?: boolean;
    }
  /** Reset the connection without answering. */
  | { kind: 'drop' }
  /** 200 (or `status`) text/event-stream whose first and only event is an error. */
  | { kind: 'sse-error'; style: 'openai' | 'minimax'; status?: number }
  /** 200 JSON `{method, path, query, prefix, headers, body}`. */
  | { kind: 'echo' };

export interface RecordedRequest {
  /** '' when the URL had no known prefix segment. */
  readonly prefix: string;
  readonly method: string;
  /** Path after the prefix, e.g. `/v1/chat/completions` (no query string). */
  readonly path: string;
  /** Query string without the leading `?` ('' when none). */
  readonly query: string;
  /** Lowercased names; repeated headers joined with ', '. */
  readonly headers: Record<string, string>;
  /** Exact request body bytes. */
  readonly rawBody: Buffer;
  /** Parsed body, or null when empty / not JSON. */
  readonly json: unknown | null;
  readonly receivedAt: number;
  /** The client closed the connection before the response ended. */
  closedEarly: boolean;
  closedAt?: number;
}

export interface FakeUpstreamOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /**
   * Keep `requests` / `aborted` (default true). The CLI turns it off so a long benchmark
   * does not grow memory without bound.
   */
  record?: boolean;
  /** Behaviour for prefixes with no script (default `{ kind: 'ok' }`). */
  defaultBehaviour?: Behaviour;
}

export interface FakeUpstream {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  readonly port: number;
  /** `${origin}/${prefix}/v1` (`${origin}/v1` for ''). Also marks the prefix as known. */
  base(prefix: string): string;
  /** Queue per prefix: each request consumes the next, the last one repeats. `[]` unscripts. */
  script(prefix: string, behaviours: Behaviour[]): void;
  /** Every request received (after its body was read), in order. */
  readonly requests: RecordedRequest[];
  requestsFor(prefix: string): RecordedRequest[];
  /** Forget recorded requests, aborts and scripts. */
  reset(): void;
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  /** Requests whose client connection closed before the response ended. */
  readonly aborted: RecordedRequest[];
  waitForAbort(n: number, timeoutMs?: number): Promise<void>;
  /** Stops listening and destroys every socket, hanging ones included. */
  close(): Promise<void>;
}

const DEFAULT_CONTENT = 'Hello from fake upstream';
const DEFAULT_USAGE: Usage = { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 };
/** Embeddings produce no completion tokens, so their default total is just the prompt. */
const DEFAULT_EMBEDDING_USAGE: Usage = { prompt_tokens: 5, total_tokens: 5 };
const DEFAULT_MODEL = 'fake-model';
const DEFAULT_WAIT_MS = 5000;
const OK: Behaviour = { kind: 'ok' };
const EMPTY = Buffer.alloc(0);
const DONE_EVENT = 'data: [DONE]\n\n';
const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
};
const OPENAI_SSE_ERROR =
  'data: {"error":{"message":"upstream overloaded","type":"overloaded_error","code":"overloaded"}}\n\n';
const MINIMAX_SSE_ERROR =
  'data: {"type":"error","error":{"type":"overloaded_error","message":"MiniMax overloaded","http_code":"529"}}\n\n';

/** Per-request state the close listener needs; kept tiny because it exists per request. */
interface Pending {
  record: RecordedRequest | null;
  /** We ended the connection on purpose (drop / thenDrop / close()): not a client abort. */
  intentional: boolean;
}

interface Queue {
  readonly behaviours: readonly Behaviour[];
  next: number;
}

interface Waiter {
  readonly done: () => boolean;
  readonly resolve: () => void;
}

export async function startFakeUpstream(opts: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const host = opts.host ?? '127.0.0.1';
  const record = opts.record ?? true;
  const defaultBehaviour = opts.defaultBehaviour ?? OK;

  const requests: RecordedRequest[] = [];
  const aborted: RecordedRequest[] = [];
  const queues = new Map<string, Queue>();
  const knownPrefixes = new Set<string>();
  const waiters = new Set<Waiter>();
  let seq = 0;
  let closing = false;

  function notify(): void {
    for (const w of waiters) {
      if (w.done()) {
        waiters.delete(w);
        w.resolve();
      }
    }
  }

  function waitFor(done: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        done,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`fake upstream: timed out after ${timeoutMs} ms waiting for ${describe()}`));
      }, timeoutMs);
      waiters.add(waiter);
    });
  }

  function nextBehaviour(prefix: string): Behaviour {
    const q = queues.get(prefix);
    if (q === undefined) return defaultBehaviour;
    const i = q.next < q.behaviours.length ? q.next++ : q.behaviours.length - 1;
    return q.behaviours[i] ?? defaultBehaviour;
  }

  /** Splits `/b1/v1/chat/completions` into prefix 'b1' and path '/v1/chat/completions'. */
  function splitPrefix(pathname: string): [prefix: string, path: string] {
    const slash = pathname.indexOf('/', 1);
    const first = slash === -1 ? pathname.slice(1) : pathname.slice(1, slash);
    const rest = slash === -1 ? '/' : pathname.slice(slash);
    if (first === '' || first === 'v1') return ['', pathname];
    // A segment followed by /v1 is a prefix even if nobody called base()/script() for it,
    // so ad-hoc backends still get separated records.
    if (knownPrefixes.has(first) || rest === '/v1' || rest.startsWith('/v1/')) return [first, rest];
    return ['', pathname];
  }

  // HTTP keep-alive is node's default; `keepAlive` here adds TCP keep-alive, `noDelay` sends each
  // SSE write at once instead of batching (Nagle), `requestTimeout: 0` so slow tests are not cut off.
  const server = createServer({ keepAlive: true, noDelay: true, requestTimeout: 0 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      handle(req, res, rawBody);
    });
  });
  // Long enough that a benchmark's pooled connections are not recycled under it.
  server.keepAliveTimeout = 30_000;

  function handle(req: IncomingMessage, res: ServerResponse, rawBody: Buffer): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const [prefix, path] = splitPrefix(q === -1 ? url : url.slice(0, q));
    const query = q === -1 ? '' : url.slice(q + 1);
    const method = req.method ?? 'GET';
    const behaviour = nextBehaviour(prefix);
    const json = (record || needsJson(behaviour)) ? parseJson(rawBody) : null;

    const pending: Pending = { record: null, intentional: false };
    if (record) {
      const rec: RecordedRequest = {
        prefix,
        method,
        path,
        query,
        headers: flattenHeaders(req),
        rawBody,
        json,
        receivedAt: Date.now(),
        closedEarly: false,
      };
      pending.record = rec;
      requests.push(rec);
      res.on('close', () => {
        if (res.writableFinished || pending.intentional || closing) return;
        rec.closedEarly = true;
        rec.closedAt = Date.now();
        aborted.push(rec);
        notify();
      });
      notify();
    }

    switch (behaviour.kind) {
      case 'ok':
        return respondOk(res, behaviour, method, path, json);
      case 'status':
        return later(behaviour.delayMs, res, () => respondStatus(res, behaviour.status, behaviour.body, behaviour.headers));
      case 'hang':
        return;
      case 'hang-after-headers':
        res.writeHead(200, SSE_HEADERS);
        res.flushHeaders();
        return;
      case 'stream':
        res.writeHead(behaviour.status ?? 200, mergeHeaders(SSE_HEADERS, behaviour.headers));
        res.flushHeaders();
        return writeEvents(res, behaviour.events, behaviour.delayMs ?? 0, () => {
          if (behaviour.thenHang === true) return;
          if (behaviour.thenDrop === true) {
            pending.intentional = true;
            // end() first so the events already written reach the client before the FIN;
            // the missing chunked terminator makes it a premature close for the client.
            const socket = res.socket;
            if (socket !== null) socket.end(() => socket.destroy());
            return;
          }
          res.end();
        });
      case 'drop':
        pending.intentional = true;
        resetSocket(req.socket);
        return;
      case 'sse-error':
        res.writeHead(behaviour.status ?? 200, SSE_HEADERS);
        res.end(behaviour.style === 'openai' ? OPENAI_SSE_ERROR : MINIMAX_SSE_ERROR);
        return;
      case 'echo':
        return sendJson(res, 200, {
          method,
          path,
          query,
          prefix,
          headers: pending.record?.headers ?? flattenHeaders(req),
          body: json ?? (rawBody.length === 0 ? null : rawBody.toString('utf8')),
        });
    }
  }

  function respondOk(
    res: ServerResponse,
    b: Extract<Behaviour, { kind: 'ok' }>,
    method: string,
    path: string,
    json: unknown,
  ): void {
    const body = isObject(json) ? json : {};
    const model = typeof body.model === 'string' ? body.model : DEFAULT_MODEL;
    const content = b.content ?? DEFAULT_CONTENT;
    const usage = b.usage === undefined ? DEFAULT_USAGE : b.usage;
    const stream = body.stream === true;
    const delayMs = b.delayMs ?? 0;
    const n = ++seq;
    const created = Math.floor(Date.now() / 1000);

    let payload: object;
    if (path.endsWith('/chat/completions')) {
      if (stream) return streamOk(res, chatStream(n, created, model, content, usage), delayMs, b.headers);
      payload = chatCompletion(n, created, model, content, usage);
    } else if (path.endsWith('/completions')) {
      if (stream) return streamOk(res, textStream(n, created, model, content, usage), delayMs, b.headers);
      payload = textCompletion(n, created, model, content, usage);
    } else if (path.endsWith('/embeddings')) {
      payload = embeddings(model, body.input, b.usage === undefined ? DEFAULT_EMBEDDING_USAGE : b.usage);
    } else if (path.endsWith('/responses')) {
      if (stream) return streamOk(res, responsesStream(n, created, model, content, usage), delayMs, b.headers);
      payload = responseObject(n, created, model, content, usage, 'completed');
    } else if (method === 'GET' && /\/models$/.test(path)) {
      payload = { object: 'list', data: [modelObject(model, created)] };
    } else if (method === 'GET' && path.includes('/models/')) {
      payload = modelObject(safeDecode(path.slice(path.lastIndexOf('/models/') + '/models/'.length)), created);
    } else {
      const message = `fake upstream: no ok response for ${method} ${path}`;
      return respondStatus(res, 404, { error: { message, type: 'invalid_request_error', param: null, code: null } });
    }
    later(delayMs, res, () => sendJson(res, 200, payload, b.headers));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://${originHost(host)}:${port}`;

  return {
    origin,
    port,
    base(prefix: string): string {
      checkPrefix(prefix);
      if (prefix === '') return `${origin}/v1`;
      knownPrefixes.add(prefix);
      return `${origin}/${prefix}/v1`;
    },
    script(prefix: string, behaviours: Behaviour[]): void {
      checkPrefix(prefix);
      if (prefix !== '') knownPrefixes.add(prefix);
      if (behaviours.length === 0) queues.delete(prefix);
      else queues.set(prefix, { behaviours: [...behaviours], next: 0 });
    },
    requests,
    requestsFor: (prefix: string) => requests.filter((r) => r.prefix === prefix),
    reset(): void {
      // Same arrays, so references the caller holds stay live.
      requests.length = 0;
      aborted.length = 0;
      queues.clear();
    },
    waitForRequests: (n: number, timeoutMs = DEFAULT_WAIT_MS) =>
      waitFor(() => requests.length >= n, timeoutMs, () => `${n} requests (got ${requests.length})`),
    aborted,
    waitForAbort: (n: number, timeoutMs = DEFAULT_WAIT_MS) =>
      waitFor(() => aborted.length >= n, timeoutMs, () => `${n} aborted requests (got ${aborted.length})`),
    close(): Promise<void> {
      if (closing) return Promise.resolve();
      closing = true;
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Hanging requests would otherwise keep close() (and the test) waiting forever.
        server.closeAllConnections();
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Response bodies

function chatChunk(n: number, created: number, model: string, delta: object, finish: string | null): string {
  return sse({
    id: `chatcmpl-fake${n}`,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
}

function chatCompletion(n: number, created: number, model: string, content: string, usage: Usage | null): object {
  return withUsage(
    {
      id: `chatcmpl-fake${n}`,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    },
    usage,
  );
}

function chatStream(n: number, created: number, model: string, content: string, usage: Usage | null): string[] {
  const events = [chatChunk(n, created, model, { role: 'assistant', content: '' }, null)];
  for (const piece of splitWords(content)) events.push(chatChunk(n, created, model, { content: piece }, null));
  events.push(chatChunk(n, created, model, {}, 'stop'));
  if (usage !== null) {
    events.push(sse({ id: `chatcmpl-fake${n}`, object: 'chat.completion.chunk', created, model, choices: [], usage }));
  }
  events.push(DONE_EVENT);
  return events;
}

function textCompletion(n: number, created: number, model: string, content: string, usage: Usage | null): object {
  return withUsage(
    {
      id: `cmpl-fake${n}`,
      object: 'text_completion',
      created,
      model,
      choices: [{ text: content, index: 0, logprobs: null, finish_reason: 'stop' }],
    },
    usage,
  );
}

function textStream(n: number, created: number, model: string, content: string, usage: Usage | null): string[] {
  const chunk = (text: string, finish: string | null): string =>
    sse({
      id: `cmpl-fake${n}`,
      object: 'text_completion',
      created,
      model,
      choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
    });
  const events = splitWords(content).map((piece) => chunk(piece, null));
  events.push(chunk('', 'stop'));
  if (usage !== null) events.push(sse({ id: `cmpl-fake${n}`, object: 'text_completion', created, model, choices: [], usage }));
  events.push(DONE_EVENT);
  return events;
}

function embeddings(model: string, input: unknown, usage: Usage | null): object {
  // A token array (number[]) is one input; any other array is one input per element.
  const inputs: unknown[] =
    Array.isArray(input) && !input.every((x) => typeof x === 'number') ? input : [input ?? ''];
  const prompt = usage?.prompt_tokens ?? 5;
  const body = {
    object: 'list',
    data: inputs.map((item, index) => ({ object: 'embedding', index, embedding: vector(JSON.stringify(item) ?? '') })),
    model,
  };
  return usage === null ? body : { ...body, usage: { prompt_tokens: prompt, total_tokens: usage.total_tokens ?? prompt } };
}

/** 8 deterministic floats derived from the input, so equal inputs embed equally. */
function vector(text: string): number[] {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  const out: number[] = [];
  for (let k = 0; k < 8; k++) out.push(Math.round(Math.sin(h + k) * 1e6) / 1e6);
  return out;
}

function responsesUsage(usage: Usage): object {
  const input = numberOr(usage.input_tokens, usage.prompt_tokens ?? 5);
  const output = numberOr(usage.output_tokens, usage.completion_tokens ?? 7);
  return { input_tokens: input, output_tokens: output, total_tokens: usage.total_tokens ?? input + output };
}

function responseObject(
  n: number,
  created: number,
  model: string,
  content: string,
  usage: Usage | null,
  status: 'in_progress' | 'completed',
): object {
  const done = status === 'completed';
  return {
    id: `resp_fake${n}`,
    object: 'response',
    created_at: created,
    status,
    model,
    output: done
      ? [
          {
            type: 'message',
            id: `msg_fake${n}`,
            status: 'completed',
            role: 'assistant',
            content: [{ type: 'output_text', text: content, annotations: [] }],
          },
        ]
      : [],
    usage: done && usage !== null ? responsesUsage(usage) : null,
  };
}

function responsesStream(n: number, created: number, model: string, content: string, usage: Usage | null): string[] {
  let sequence = 0;
  // The Responses API names each event (`event:` line) and has no [DONE] sentinel.
  const ev = (type: string, data: object): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...data })}\n\n`;
  const itemId = `msg_fake${n}`;
  const events = [ev('response.created', { response: responseObject(n, created, model, content, usage, 'in_progress') })];
  for (const delta of splitWords(content)) {
    events.push(ev('response.output_text.delta', { item_id: itemId, output_index: 0, content_index: 0, delta }));
  }
  events.push(ev('response.output_text.done', { item_id: itemId, output_index: 0, content_index: 0, text: content }));
  events.push(ev('response.completed', { response: responseObject(n, created, model, content, usage, 'completed') }));
  return events;
}

function modelObject(id: string, created: number): object {
  return { id, object: 'model', created, owned_by: 'fake-upstream' };
}

// ---------------------------------------------------------------------------------------------
// Writing

function respondStatus(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  let text: string;
  let type: string;
  if (body === undefined) {
    text = JSON.stringify({
      error: {
        message: `fake upstream error ${status}`,
        type: status >= 500 ? 'server_error' : 'invalid_request_error',
        param: null,
        code: null,
      },
    });
    type = 'application/json';
  } else if (typeof body === 'string') {
    text = body;
    type = parseJson(Buffer.from(body)) === null ? 'text/plain; charset=utf-8' : 'application/json';
  } else {
    text = JSON.stringify(body);
    type = 'application/json';
  }
  // 204/304 must not carry a body; node would throw on writing one.
  if (status === 204 || status === 304) {
    res.writeHead(status, mergeHeaders({}, headers));
    res.end();
    return;
  }
  sendText(res, status, text, type, headers);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  sendText(res, status, JSON.stringify(body), 'application/json', headers);
}

function sendText(res: ServerResponse, status: number, text: string, type: string, headers?: Record<string, string>): void {
  // Explicit content-length: a plain (non-chunked) response, like real JSON APIs send.
  const base: OutgoingHttpHeaders = { 'content-type': type, 'content-length': Buffer.byteLength(text) };
  res.writeHead(status, headers === undefined ? base : mergeHeaders(base, headers));
  res.end(text);
}

function streamOk(res: ServerResponse, events: string[], delayMs: number, headers?: Record<string, string>): void {
  res.writeHead(200, headers === undefined ? SSE_HEADERS : mergeHeaders(SSE_HEADERS, headers));
  res.flushHeaders();
  writeEvents(res, events, delayMs, () => res.end());
}

/**
 * Writes each event as its own write: the first at once, the rest `delayMs` apart (all
 * synchronously when 0). Stops quietly if the connection went away in between.
 */
function writeEvents(res: ServerResponse, events: readonly string[], delayMs: number, then: () => void): void {
  if (delayMs <= 0) {
    for (const e of events) res.write(e);
    then();
    return;
  }
  let i = 0;
  const step = (): void => {
    if (res.destroyed) return;
    if (i < events.length) res.write(events[i++]!);
    if (i < events.length) setTimeout(step, delayMs).unref();
    else then();
  };
  step();
}

/** Runs `fn` after `delayMs` unless the connection closed meanwhile. */
function later(delayMs: number | undefined, res: ServerResponse, fn: () => void): void {
  if (delayMs === undefined || delayMs <= 0) return fn();
  // unref: a pending delayed answer must not keep a finished process alive.
  setTimeout(() => {
    if (!res.destroyed) fn();
  }, delayMs).unref();
}

function resetSocket(socket: Socket): void {
  // RST (ECONNRESET for the client) is what a crashed or overloaded upstream looks like.
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function sse(payload: object): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

function withUsage(body: object, usage: Usage | null): object {
  return usage === null ? body : { ...body, usage };
}

/** "Hello from fake" -> ["Hello", " from", " fake"]; joining the pieces gives the input back. */
function splitWords(content: string): string[] {
  return content.split(/(?<=\S)(?=\s)/).filter((s) => s !== '');
}

function mergeHeaders(base: Readonly<OutgoingHttpHeaders>, extra: Record<string, string> | undefined): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...base };
  if (extra !== undefined) for (const [k, v] of Object.entries(extra)) out[k.toLowerCase()] = v;
  return out;
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function parseJson(raw: Buffer): unknown | null {
  if (raw.length === 0) return null;
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return null;
  }
}

function needsJson(b: Behaviour): boolean {
  return b.kind === 'ok' || b.kind === 'echo';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function numberOr(v: unknown, fallback: number): number {
  return typeof v === 'number' ? v : fallback;
}

function checkPrefix(prefix: string): void {
  if (prefix.includes('/') || prefix.includes('?') || prefix === 'v1') {
    throw new Error(`fake upstream: prefix must be one path segment other than "v1", got ${JSON.stringify(prefix)}`);
  }
}

/** A wildcard bind address is not something a client can connect to; IPv6 needs brackets. */
function originHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
