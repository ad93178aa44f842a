/**
 * The load generator: autocannon, programmatic, in the benchmark's own process.
 *
 * autocannon's own latency histogram keeps whole milliseconds, too coarse to judge a 2 ms
 * budget, so every response's time (float ms, from its `response` event) is kept here and the
 * percentiles are computed exactly from those.
 */
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';

/** The subset of autocannon's options and result this benchmark uses (it ships no types). */
interface AutocannonOptions {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  connections: number;
  /** Seconds. */
  duration: number;
  /** Seconds without a response before a request counts as a timeout (an error). */
  timeout: number;
  pipelining: number;
  /** Called with each response body; false counts a mismatch. */
  verifyBody?: (body: string) => boolean;
}

interface AutocannonResult {
  errors: number;
  timeouts: number;
  mismatches: number;
  non2xx: number;
  resets: number;
  statusCodeStats: Record<string, { count: number }>;
}

interface AutocannonInstance extends EventEmitter {
  stop(): void;
}

type Autocannon = (opts: AutocannonOptions, cb: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;

// autocannon is CommonJS without type declarations; the interface above is what we rely on.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface LoadOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  connections: number;
  durationS: number;
  timeoutS: number;
  /** A 2xx body this returns false for is a mismatch, which invalidates the run. */
  verifyBody: (body: string) => boolean;
  /**
   * Requests per second offered over all connections, evenly spaced (open loop); absent: closed
   * loop at full speed (autocannon). autocannon's own `overallRate` is a per-second budget
   * spent in one burst at the start of each second, a saturating load for a fraction of every
   * second, so paced runs use the generator below instead.
   */
  rate?: number;
}

export interface LoadResult {
  elapsedMs: number;
  /** Responses of any status. */
  responses: number;
  ok: number;
  /** Every 2xx response's time, ms, in arrival order. */
  latencies: Float64Array;
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
  mismatches: number;
  non2xx: number;
  resets: number;
  statusCodes: Record<string, number>;
  /** Response size range over 2xx responses (closed loop: head + body; paced: body). */
  minBytes: number;
  maxBytes: number;
}

let current: AutocannonInstance | null = null;
/** Set by `stopCurrentLoad` to end a paced run early. */
let stopPaced = false;

/** Ends the run in progress early (SIGINT); its promise still settles. */
export function stopCurrentLoad(): void {
  current?.stop();
  stopPaced = true;
}

export function runLoad(opts: LoadOptions): Promise<LoadResult> {
  return opts.rate === undefined ? runClosedLoop(opts) : runPaced(opts, opts.rate);
}

/** The smallest sleep that still yields to the loop; requests that fell due meanwhile go out together. */
const PACE_TICK_MS = 1;

/**
 * Open loop: request i is sent at start + i ÷ rate (due requests go out on each ~1 ms tick) over
 * a pool of `connections` keep-alive sockets, whatever the earlier requests are doing. A request
 * waiting for a free socket waits inside its measured time, as a client with that many
 * connections would. Latency: from sending to the last body byte.
 */
async function runPaced(opts: LoadOptions, rate: number): Promise<LoadResult> {
  const url = new URL(opts.url);
  const pool = new Pool(url.origin, { connections: opts.connections, pipelining: 1 });
  const res: LoadResult = {
    elapsedMs: 0, responses: 0, ok: 0, latencies: new Float64Array(0), errors: 0, timeouts: 0, mismatches: 0, non2xx: 0, resets: 0,
    statusCodes: {}, minBytes: Number.POSITIVE_INFINITY, maxBytes: 0,
  };
  const latencies: number[] = [];
  const inFlight = new Set<Promise<void>>();
  const one = async (): Promise<void> => {
    const sent = performance.now();
    try {
      const r = await pool.request({
        path: url.pathname + url.search,
        method: 'POST',
        headers: opts.headers,
        body: opts.body,
        headersTimeout: opts.timeoutS * 1000,
        bodyTimeout: opts.timeoutS * 1000,
      });
      const text = await r.body.text();
      const ms = performance.now() - sent;
      res.responses++;
      res.statusCodes[String(r.statusCode)] = (res.statusCodes[String(r.statusCode)] ?? 0) + 1;
      if (r.statusCode < 200 || r.statusCode > 299) res.non2xx++;
      else if (!opts.verifyBody(text)) res.mismatches++;
      else {
        res.ok++;
        latencies.push(ms);
        res.minBytes = Math.min(res.minBytes, text.length);
        res.maxBytes = Math.max(res.maxBytes, text.length);
      }
    } catch (err) {
      res.errors++;
      if ((err as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT' || (err as { code?: string }).code === 'UND_ERR_BODY_TIMEOUT') res.timeouts++;
    }
  };
  const started = performance.now();
  const endAt = started + opts.durationS * 1000;
  let sent = 0;
  stopPaced = false;
  while (!stopPaced && performance.now() < endAt) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    for (; sent < due; sent++) {
      const p = one().finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await sleep(PACE_TICK_MS);
  }
  await Promise.all(inFlight);
  res.elapsedMs = performance.now() - started;
  await pool.close();
  res.latencies = Float64Array.from(latencies);
  if (res.ok === 0) res.minBytes = 0;
  return res;
}

function runClosedLoop(opts: LoadOptions): Promise<LoadResult> {
  let latencies = new Float64Array(1 << 16);
  let ok = 0;
  let responses = 0;
  let minBytes = Number.POSITIVE_INFINITY;
  let maxBytes = 0;
  const started = performance.now();

  return new Promise<LoadResult>((resolve, reject) => {
    const instance = autocannon(
      {
        url: opts.url,
        method: 'POST',
        headers: opts.headers,
        body: opts.body,
        connections: opts.connections,
        duration: opts.durationS,
        timeout: opts.timeoutS,
        pipelining: 1,
        verifyBody: opts.verifyBody,
      },
      (err, result) => {
        current = null;
        if (err) {
          reject(err);
          return;
        }
        const statusCodes: Record<string, number> = {};
        for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count;
        resolve({
          elapsedMs: performance.now() - started,
          responses,
          ok,
          latencies: latencies.subarray(0, ok),
          errors: result.errors,
          timeouts: result.timeouts,
          mismatches: result.mismatches,
          non2xx: result.non2xx,
          resets: result.resets,
          statusCodes,
          minBytes: ok === 0 ? 0 : minBytes,
          maxBytes,
        });
      },
    );
    current = instance;
    instance.on('response', (_client: unknown, status: number, bytes: number, ms: number) => {
      responses++;
      if (status < 200 || status > 299) return;
      if (ok === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[ok++] = ms;
      if (bytes < minBytes) minBytes = bytes;
      if (bytes > maxBytes) maxBytes = bytes;
    });
  });
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles over every sample (no histogram rounding). */
export function summarize(samples: Float64Array): LatencySummary {
  const n = samples.length;
  if (n === 0) return { p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number): number => sorted[Math.min(n - 1, Math.max(0, Math.ceil((q / 100) * n) - 1))]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return { p50: at(50), p90: at(90), p99: at(99), max: sorted[n - 1]!, mean: sum / n };
}
