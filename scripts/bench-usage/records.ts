/**
 * Realistic RequestRecords for the seeding script: several models with their own latency and
 * token profiles, about half streamed, ~5 % failures (each with one to three error events), ~1.5 %
 * client cancellations, ~3 % retried-then-succeeded requests, a few client keys, and request
 * times spread over a window with a day/night and weekday/weekend rhythm, oldest first (the order
 * a live proxy writes them). Bodies are realistic in shape and size (a few hundred bytes to a few
 * KB of JSON per record), never huge. Deterministic for a given `seed`, except the ids.
 */
import { randomUUID } from 'node:crypto';
import type { BackendAttempt, ErrorType, Outcome, RecordedError, RequestRecord } from '../../src/logging/types.ts';

interface ModelProfile {
  readonly name: string;
  readonly weight: number;
  readonly fallback: string;
  /** Median time to first byte and per-completion-token time, ms. */
  readonly ttfbMs: number;
  readonly perTokenMs: number;
  readonly apiBase: string;
}

export const MODELS: readonly ModelProfile[] = [
  { name: 'gpt-4o-mini', weight: 34, fallback: 'gpt-4o', ttfbMs: 280, perTokenMs: 9, apiBase: 'https://api.openai.com/v1' },
  { name: 'gpt-4o', weight: 18, fallback: 'claude-3-5-sonnet', ttfbMs: 450, perTokenMs: 16, apiBase: 'https://api.openai.com/v1' },
  { name: 'claude-3-5-sonnet', weight: 15, fallback: 'gpt-4o', ttfbMs: 650, perTokenMs: 14, apiBase: 'https://api.anthropic.com/v1' },
  { name: 'llama-3.3-70b', weight: 12, fallback: 'gpt-4o-mini', ttfbMs: 220, perTokenMs: 6, apiBase: 'https://api.groq.com/openai/v1' },
  { name: 'gemini-1.5-flash', weight: 10, fallback: 'gpt-4o-mini', ttfbMs: 350, perTokenMs: 7, apiBase: 'https://generativelanguage.googleapis.com/v1beta/openai' },
  { name: 'mistral-large', weight: 7, fallback: 'gpt-4o', ttfbMs: 500, perTokenMs: 18, apiBase: 'https://api.mistral.ai/v1' },
  { name: 'o3-mini', weight: 4, fallback: 'gpt-4o', ttfbMs: 4000, perTokenMs: 12, apiBase: 'https://api.openai.com/v1' },
];

const CLIENT_KEYS: readonly (string | null)[] = ['web-app', 'web-app', 'web-app', 'batch-jobs', 'batch-jobs', 'ci', 'notebook', null];

/** mulberry32: small, fast, good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the request proxy model stream token latency error retry backend route fallback user assistant system ' +
  'summarise explain translate write code function table database index query window bucket chart page ' +
  'please could you give me a short answer about how why when where which example detail step list json'
).split(' ');

/** One long text; prompts and answers are slices of it, so no per-record string building. */
function corpus(rand: () => number, length: number): string {
  const out: string[] = [];
  let n = 0;
  while (n < length) {
    const w = WORDS[Math.floor(rand() * WORDS.length)]!;
    out.push(w);
    n += w.length + 1;
  }
  return out.join(' ');
}

export interface RecordGenerator {
  /** The i-th record of `total` (call with increasing i: times are generated in order). */
  next(): RequestRecord;
}

export interface GeneratorOptions {
  readonly total: number;
  readonly days: number;
  /** End of the window (the newest record is just before it). */
  readonly end: Date;
  readonly seed: number;
}

/** Request-rate weight of an hour: busier during the (UTC) working day, quieter at weekends. */
function hourWeight(ms: number): number {
  const d = new Date(ms);
  const h = d.getUTCHours();
  const day = 0.35 + 0.65 * Math.max(0, Math.sin(((h - 6) / 16) * Math.PI));
  const weekend = d.getUTCDay() === 0 || d.getUTCDay() === 6 ? 0.55 : 1;
  return day * weekend;
}

/** Monotone request times: the i-th of n quantiles of the hourly rate, with jitter inside its slot. */
function timeline(opts: GeneratorOptions, rand: () => number): () => number {
  const hourMs = 3_600_000;
  const endMs = opts.end.getTime();
  const startMs = endMs - opts.days * 86_400_000;
  const hours = Math.ceil((endMs - startMs) / hourMs);
  const cum = new Float64Array(hours + 1);
  for (let h = 0; h < hours; h++) cum[h + 1] = cum[h]! + hourWeight(startMs + h * hourMs);
  const totalWeight = cum[hours]!;
  let h = 0;
  let i = 0;
  return () => {
    const u = ((i++ + rand()) / opts.total) * totalWeight;
    while (h < hours - 1 && cum[h + 1]! <= u) h++;
    const frac = (u - cum[h]!) / (cum[h + 1]! - cum[h]!);
    return Math.min(endMs - 1, Math.floor(startMs + (h + frac) * hourMs));
  };
}

const chunkOf = (id: string, created: number, model: string, text: string, finish: string | null): string =>
  `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":"${model}","choices":[{"index":0,"delta":{"content":${JSON.stringify(text)}},"finish_reason":${finish === null ? 'null' : `"${finish}"`}}]}\n\n`;

interface Failure {
  readonly type: ErrorType;
  readonly status: number;
  readonly message: (backend: string) => string;
  readonly upstreamBody: string | null;
}

const FAILURES: readonly Failure[] = [
  { type: 'http_retryable', status: 503, message: (b) => `${b} returned retryable status 503`, upstreamBody: '{"error":{"message":"The server is overloaded or not ready yet.","type":"server_error"}}' },
  { type: 'http_retryable', status: 429, message: (b) => `${b} returned retryable status 429`, upstreamBody: '{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}' },
  { type: 'http_error', status: 400, message: (b) => `${b} returned status 400`, upstreamBody: '{"error":{"message":"This model\'s maximum context length is 128000 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}' },
  { type: 'http_error', status: 500, message: (b) => `${b} returned status 500`, upstreamBody: '{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}' },
  { type: 'timeout', status: 504, message: (b) => `${b} did not answer within 60000 ms`, upstreamBody: null },
  { type: 'connection_error', status: 502, message: (b) => `${b}: connect ECONNREFUSED`, upstreamBody: null },
];

export function createRecordGenerator(opts: GeneratorOptions): RecordGenerator {
  const rand = prng(opts.seed);
  const nextTime = timeline(opts, prng(opts.seed ^ 0x5eed));
  const text = corpus(rand, 64 * 1024);
  const slice = (len: number): string => {
    const at = Math.floor(rand() * (text.length - len - 1));
    return text.slice(at, at + len);
  };
  const totalWeight = MODELS.reduce((a, m) => a + m.weight, 0);
  const pickModel = (): ModelProfile => {
    let r = rand() * totalWeight;
    for (const m of MODELS) if ((r -= m.weight) < 0) return m;
    return MODELS[0]!;
  };
  /** Log-normal-ish: median × e^(σ·N(0,1)), from a cheap approximate normal. */
  const logNormal = (median: number, sigma: number): number => {
    const z = (rand() + rand() + rand() + rand() - 2) * 1.732;
    return median * Math.exp(sigma * z);
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

  return {
    next(): RequestRecord {
      const startMs = nextTime();
      const requestTime = new Date(startMs).toISOString();
      const m = pickModel();
      const id = randomUUID();
      const isStream = rand() < 0.5;
      const clientKey = pick(CLIENT_KEYS);
      const url = `${m.apiBase}/chat/completions`;
      const promptChars = Math.min(4000, Math.round(logNormal(320, 0.8)));
      const system = slice(60 + Math.floor(rand() * 240));
      const user = slice(promptChars);
      const body = {
        model: m.name,
        stream: isStream,
        ...(isStream ? { stream_options: { include_usage: true } } : {}),
        temperature: Math.round(rand() * 10) / 10,
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: user },
        ],
      };
      const promptTokens = Math.max(8, Math.round((system.length + user.length) / 4) + 12);

      const r = rand();
      const kind: 'ok' | 'retried' | 'failed' | 'cancelled' = r < 0.05 ? 'failed' : r < 0.065 ? 'cancelled' : r < 0.095 ? 'retried' : 'ok';
      const completionTokens = kind === 'failed' ? 0 : Math.max(1, Math.round(logNormal(180, 0.8)));
      const ttfb = Math.round(logNormal(m.ttfbMs, 0.45));
      const answerMs = Math.round(completionTokens * m.perTokenMs * (0.7 + rand() * 0.6));
      const errors: RecordedError[] = [];
      const attempts: BackendAttempt[] = [];
      let t = startMs;
      const addFailure = (backend: string, attempt: number, f: Failure): void => {
        const dur = f.type === 'timeout' ? 60_000 : f.type === 'connection_error' ? 5 + Math.round(rand() * 40) : Math.round(logNormal(120, 0.5));
        t += dur;
        errors.push({ time: new Date(t).toISOString(), type: f.type, message: f.message(backend), backend, httpStatus: f.type === 'timeout' || f.type === 'connection_error' ? null : f.status, context: { attempt, url, ...(f.upstreamBody ? { body: f.upstreamBody } : {}) } });
        attempts.push({ backend, attempt, url, status: f.type === 'timeout' || f.type === 'connection_error' ? null : f.status, durationMs: dur, ttfbMs: f.type === 'timeout' || f.type === 'connection_error' ? null : dur, error: f.message(backend), errorType: f.type, responseHeaders: f.upstreamBody ? { 'content-type': 'application/json' } : null, responseBody: f.upstreamBody });
      };

      let outcome: Outcome = 'success';
      let statusCode = 200;
      let backendName: string | null = m.name;
      let finishReason: string | null = completionTokens > 700 ? 'length' : 'stop';
      let ttfbMs: number | null = ttfb;
      if (kind === 'retried') addFailure(m.name, 1, FAILURES[Math.floor(rand() * 2)]!);
      if (kind === 'failed') {
        const f = pick(FAILURES);
        const tries = f.type === 'http_error' ? 1 : 1 + Math.floor(rand() * 3);
        for (let a = 1; a <= tries; a++) addFailure(a === 3 ? m.fallback : m.name, a === 3 ? 1 : a, f);
        outcome = 'error';
        statusCode = f.status;
        backendName = null;
        finishReason = null;
        ttfbMs = t - startMs;
      }
      const content = kind === 'failed' ? '' : slice(Math.min(1600, completionTokens * 3));
      const chatId = `chatcmpl-${id.slice(0, 8)}`;
      const created = Math.floor(startMs / 1000);
      const usage = kind === 'failed' || kind === 'cancelled' ? null : { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
      let streamChunks: string[] = [];
      let responseBody: string | null = null;
      if (kind !== 'failed') {
        const attemptNo = kind === 'retried' ? 2 : 1;
        if (kind === 'cancelled') {
          outcome = 'cancelled';
          finishReason = null;
          statusCode = isStream ? 200 : 0;
          const dur = Math.round((ttfb + answerMs) * rand());
          t += dur;
          errors.push({ time: new Date(t).toISOString(), type: 'client_disconnect', message: isStream ? 'client disconnected during stream' : 'client disconnected', backend: m.name, httpStatus: null, context: null });
          attempts.push({ backend: m.name, attempt: attemptNo, url, status: isStream ? 200 : null, durationMs: dur, ttfbMs: isStream ? ttfb : null, error: 'client disconnected', errorType: 'client_disconnect', responseHeaders: isStream ? { 'content-type': 'text/event-stream' } : null, responseBody: null });
          if (!isStream) ttfbMs = null;
        } else {
          const dur = ttfb + answerMs;
          t += dur;
          if (!isStream) {
            responseBody = JSON.stringify({ id: chatId, object: 'chat.completion', created, model: m.name, choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finishReason }], usage });
          }
          attempts.push({ backend: m.name, attempt: attemptNo, url, status: 200, durationMs: dur, ttfbMs: ttfb, error: null, errorType: null, responseHeaders: { 'content-type': isStream ? 'text/event-stream' : 'application/json', 'x-request-id': `req_${id.slice(0, 12)}` }, responseBody });
        }
        if (isStream) {
          // The captured chunks: the answer in 3–10 pieces, then the usage chunk.
          const pieces = 3 + Math.floor(rand() * 8);
          const step = Math.max(1, Math.ceil(content.length / pieces));
          const shown = outcome === 'cancelled' ? Math.floor(pieces * rand()) : pieces;
          for (let k = 0; k < shown; k++) streamChunks.push(chunkOf(chatId, created, m.name, content.slice(k * step, (k + 1) * step), k === pieces - 1 ? finishReason : null));
          if (usage) streamChunks.push(`data: {"id":"${chatId}","object":"chat.completion.chunk","created":${created},"model":"${m.name}","choices":[],"usage":${JSON.stringify(usage)}}\n\n`, 'data: [DONE]\n\n');
        }
      } else streamChunks = [];
      return {
        id,
        requestTime,
        model: m.name,
        isStream,
        path: '/v1/chat/completions',
        method: 'POST',
        query: '',
        clientKey,
        headers: { host: 'llm-proxy.internal:7979', 'content-type': 'application/json', authorization: 'Bearer sk-****', 'user-agent': pick(['OpenAI/Python 1.58.1', 'OpenAI/JS 6.30.1', 'curl/8.5.0', 'langchain/0.3']), accept: isStream ? 'text/event-stream' : 'application/json' },
        body,
        bodyTruncated: false,
        route: [m.name, m.fallback],
        attempts,
        streamChunks,
        streamChunksDropped: 0,
        errors,
        usage,
        finishReason,
        outcome,
        statusCode,
        backendName,
        durationMs: t - startMs,
        ttfbMs,
        responseBody,
      };
    },
  };
}
