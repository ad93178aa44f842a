/**
 * The streaming load generator (autocannon only sees whole responses): an undici Pool in the
 * benchmark process that runs SSE requests and stamps, per stream, the time its first body byte
 * arrived and the time each SSE event was complete (events, not TCP chunks: a proxy may split
 * or merge writes, and what a client waits for is the event).
 *
 * - `runStreams`: closed loop, `concurrency` streams at a time for a duration → TTFB,
 *   inter-event gaps, stream durations, streams/s;
 * - `holdStreams`: opens `count` streams at once and keeps reading them until closed → how many
 *   are flowing (first event received), for the memory of held-open streams.
 */
import { setMaxListeners } from 'node:events';
import { Pool } from 'undici';

export interface StreamTarget {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface StreamLoadOptions extends StreamTarget {
  concurrency: number;
  durationS: number;
  /** A stream not complete after this long is an error (aborted). */
  timeoutS: number;
  /** Events a complete stream has; fewer (or no `[DONE]` at the end) is an error. */
  expectEvents: number;
}

export interface StreamLoadResult {
  elapsedMs: number;
  /** Complete, valid streams. */
  ok: number;
  errors: number;
  /** Why streams failed, counted by reason. */
  errorKinds: Record<string, number>;
  /** Request sent → first body byte, ms, per ok stream. */
  ttfb: Float64Array;
  /** Time between consecutive events of a stream, ms, over all ok streams. */
  gaps: Float64Array;
  /** Request sent → last event, ms, per ok stream. */
  total: Float64Array;
}

const NL = 0x0a;

/** Growable Float64Array. */
class Samples {
  private buf = new Float64Array(1024);
  private n = 0;
  push(v: number): void {
    if (this.n === this.buf.length) {
      const grown = new Float64Array(this.buf.length * 2);
      grown.set(this.buf);
      this.buf = grown;
    }
    this.buf[this.n++] = v;
  }
  values(): Float64Array {
    return this.buf.subarray(0, this.n);
  }
}

interface OneStream {
  ok: boolean;
  why?: string;
  ttfb: number;
  /** Completion time of each event, ms since the request was sent. */
  events: number[];
}

function poolFor(url: URL, connections: number): Pool {
  return new Pool(url.origin, { connections, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 });
}

/**
 * One SSE request: reads the body to the end (or the abort), counting `\n\n` event ends.
 * `onFirstEvent` fires once, when the first event is complete.
 */
async function oneStream(pool: Pool, url: URL, t: StreamTarget, signal: AbortSignal, onFirstEvent?: () => void): Promise<OneStream> {
  const start = performance.now();
  const out: OneStream = { ok: false, ttfb: NaN, events: [] };
  let tail = '';
  try {
    const res = await pool.request({ method: 'POST', path: url.pathname + url.search, headers: t.headers, body: t.body, signal });
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => {});
      out.why = `status ${res.statusCode}`;
      return out;
    }
    let prevNl = false;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      const now = performance.now() - start;
      if (Number.isNaN(out.ttfb)) out.ttfb = now;
      for (let i = 0; i < chunk.length; i++) {
        const isNl = chunk[i] === NL;
        if (isNl && prevNl) {
          out.events.push(now);
          if (out.events.length === 1) onFirstEvent?.();
        }
        // "\n\n" ends an event; a third newline in a row does not end another.
        prevNl = isNl && !prevNl;
      }
      tail = (tail + chunk.toString('latin1')).slice(-64);
    }
    out.ok = tail.includes('[DONE]');
    if (!out.ok) out.why = 'no [DONE] at the end';
    return out;
  } catch (err) {
    out.why = signal.aborted ? 'timeout' : ((err as { code?: string }).code ?? (err instanceof Error ? err.message : String(err)));
    return out;
  }
}

export async function runStreams(opts: StreamLoadOptions): Promise<StreamLoadResult> {
  const url = new URL(opts.url);
  const pool = poolFor(url, opts.concurrency);
  const ttfb = new Samples();
  const gaps = new Samples();
  const total = new Samples();
  const errorKinds: Record<string, number> = {};
  let ok = 0;
  let errors = 0;
  const started = performance.now();
  const endAt = started + opts.durationS * 1000;
  // do … while: every worker runs at least one stream, so a tiny duration (the preflight) still
  // measures one even when the machine stalls this process for a moment.
  const worker = async (): Promise<void> => {
    do {
      const s = await oneStream(pool, url, opts, AbortSignal.timeout(opts.timeoutS * 1000));
      let why = s.why;
      if (s.ok && s.events.length !== opts.expectEvents) why = `${s.events.length} events instead of ${opts.expectEvents}`;
      if (why !== undefined) {
        errors++;
        errorKinds[why] = (errorKinds[why] ?? 0) + 1;
        continue;
      }
      ok++;
      ttfb.push(s.ttfb);
      for (let i = 1; i < s.events.length; i++) gaps.push(s.events[i]! - s.events[i - 1]!);
      total.push(s.events[s.events.length - 1]!);
    } while (performance.now() < endAt);
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const elapsedMs = performance.now() - started;
  await pool.destroy();
  return { elapsedMs, ok, errors, errorKinds, ttfb: ttfb.values(), gaps: gaps.values(), total: total.values() };
}

export interface HeldStreams {
  /** Streams whose first event has arrived. */
  flowing(): number;
  /** Streams that ended or failed before being closed (each one is an error of the row). */
  failed(): number;
  failures(): Record<string, number>;
  /** Resolves when `n` streams flow or after `timeoutMs`; true when they all did. */
  waitFlowing(n: number, timeoutMs: number): Promise<boolean>;
  /** Aborts every stream and closes the pool. */
  close(): Promise<void>;
}

/** Opens `count` streams (in bursts of `burst`) and keeps reading them until `close()`. */
export function holdStreams(t: StreamTarget, count: number, burst = 100): HeldStreams {
  const url = new URL(t.url);
  const pool = poolFor(url, count);
  const abort = new AbortController();
  // One signal for every held stream: each request adds a listener to it.
  setMaxListeners(0, abort.signal);
  let flowing = 0;
  let failed = 0;
  const failures: Record<string, number> = {};
  let closing = false;
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of waiters) w();
  };
  const open = (): void => {
    void oneStream(pool, url, t, abort.signal, () => {
      flowing++;
      notify();
    }).then((s) => {
      if (closing) return;
      // A held stream must not end on its own: the slow upstream runs for minutes.
      failed++;
      const why = s.why ?? 'ended early';
      failures[why] = (failures[why] ?? 0) + 1;
      notify();
    });
  };
  // Bursts, so the server under test is not hit by `count` connects in one tick (its accept
  // queue is 511 by default) — what is measured is memory per open stream, not SYN backlog.
  let opened = 0;
  const opener = setInterval(() => {
    for (let i = 0; i < burst && opened < count; i++, opened++) open();
    if (opened >= count) clearInterval(opener);
  }, 20);
  return {
    flowing: () => flowing,
    failed: () => failed,
    failures: () => ({ ...failures }),
    waitFlowing(n, timeoutMs) {
      return new Promise((resolve) => {
        const check = (): void => {
          if (flowing >= n || flowing + failed >= count) finish(flowing >= n);
        };
        const finish = (v: boolean): void => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(v);
        };
        const timer = setTimeout(() => finish(flowing >= n), timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      closing = true;
      clearInterval(opener);
      abort.abort();
      await pool.destroy().catch(() => {});
    },
  };
}
