/**
 * Measuring one row: start its contender, check one request, warm up, measure, stop. One
 * function per scenario kind; each returns a row result whose `problems` say when the row did
 * not measure what it claims (it is then shown struck through and fails its targets).
 */
import { loadavg } from 'node:os';
import { runLoad, summarize, type LoadResult } from './load.ts';
import type { Row } from './plan.ts';
import { rssKiB, sampleRss, settledRssKiB } from './proc.ts';
import { BENCH_MODEL, STREAM_EVENTS } from './protocol.ts';
import type { HoldRow, LoadRow, RowResult, StreamRow } from './results.ts';
import { holdStreams, runStreams } from './streams.ts';
import { startTarget, type Target, type TargetEnv } from './targets.ts';

const REQUEST = {
  model: BENCH_MODEL,
  messages: [
    { role: 'system', content: 'You are a terse assistant.' },
    { role: 'user', content: 'Say hello in one short sentence.' },
  ],
  max_tokens: 32,
  temperature: 0,
};

/** ~200 KB of prose-like text (ASCII, so bytes = characters). */
function largePrompt(bytes: number): string {
  const words = 'the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches '.repeat(4);
  return words.repeat(Math.ceil(bytes / words.length)).slice(0, bytes);
}

export const LARGE_PROMPT_BYTES = 200 * 1024;

export const BODIES = {
  small: JSON.stringify(REQUEST),
  large: JSON.stringify({
    ...REQUEST,
    messages: [REQUEST.messages[0], { role: 'user', content: `Summarise this document:\n${largePrompt(LARGE_PROMPT_BYTES)}` }],
  }),
  stream: JSON.stringify({ ...REQUEST, stream: true }),
} as const;

/** What the fake upstream's `ok` answer always contains. */
const CONTENT_MARKER = 'Hello from fake upstream';
const REQUEST_TIMEOUT_S = 10;
/** A 50-event stream takes ~0.5 s; anything near this is broken, not slow. */
const STREAM_TIMEOUT_S = 20;

export interface RunOptions {
  durationS: number;
  warmupS: number;
  streamConcurrency: number;
  holdStreams: number;
  holdWaitS: number;
  isInterrupted: () => boolean;
  progress: (m: string) => void;
}

const verifyJson = (body: string): boolean => body.includes(CONTENT_MARKER) && body.includes('"usage"');

function base(row: Row): { row: Row; problems: string[]; spread: null; load: number } {
  return { row, problems: [], spread: null, load: loadavg()[0] ?? 0 };
}

function errorMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

export function emptyRow(row: Row, problem: string): RowResult {
  const nan = summarize(new Float64Array(0));
  const b = base(row);
  b.problems.push(problem);
  const kind = row.scenario.kind;
  if (kind === 'hold') {
    return { ...b, type: 'hold', streams: 0, flowing: 0, errors: 0, errorText: '', baselineKiB: null, openKiB: null, closedKiB: null };
  }
  const common = { ...b, connections: 0, rps: 0, errors: 0, errorText: '', cpuPerReq: null, rssIdleKiB: null, rssPeakKiB: null };
  return kind === 'stream' ? { ...common, type: 'stream', ttfb: nan, gap: nan, total: nan } : { ...common, type: 'load', latency: nan };
}

/** Starts the row's contender, runs `measure`, always stops the child; a failed start is an invalid row. */
export async function runRow(row: Row, env: TargetEnv, opts: RunOptions): Promise<RowResult> {
  let target: Target;
  try {
    target = await startTarget(row, env);
  } catch (err) {
    opts.progress(err instanceof Error ? err.message : String(err));
    return emptyRow(row, `server did not start: ${errorMessage(err)}`);
  }
  try {
    const result =
      row.scenario.kind === 'load' ? await measureLoad(row, target, opts) : row.scenario.kind === 'stream' ? await measureStream(row, target, opts) : await measureHold(row, target, opts);
    if (opts.isInterrupted()) result.problems.push('interrupted');
    const dead = target.child?.exited() ?? null;
    if (dead !== null) result.problems.push(`server ended during the run (${dead})`);
    if (result.problems.length > 0) {
      opts.progress(`${row.id}: INVALID: ${result.problems.join('; ')}`);
      if (target.child) opts.progress(`${row.id} server output:\n${target.child.stderrTail().trimEnd() || '(empty)'}`);
    }
    return result;
  } finally {
    await target.child?.stop();
  }
}

async function cpuNow(t: Target): Promise<number | null> {
  return t.child === null ? null : t.child.cpuMicros();
}

function perRequest(before: number | null, after: number | null, n: number): number | null {
  return before === null || after === null || n === 0 ? null : (after - before) / n;
}

function loadErrors(res: LoadResult): { errors: number; text: string } {
  const parts: string[] = [];
  if (res.errors > 0) parts.push(`${res.errors} connection errors (${res.timeouts} timeouts)`);
  if (res.non2xx > 0) {
    const codes = Object.entries(res.statusCodes).filter(([c]) => !c.startsWith('2')).map(([c, n]) => `${n}×${c}`);
    parts.push(`non-2xx: ${codes.join(', ')}`);
  }
  if (res.mismatches > 0) parts.push(`${res.mismatches} unexpected bodies`);
  return { errors: res.errors + res.non2xx + res.mismatches, text: parts.join('; ') };
}

async function measureLoad(row: Row, t: Target, opts: RunOptions): Promise<LoadRow> {
  const b = base(row);
  const connections = row.scenario.connections ?? 32;
  const body = BODIES[row.scenario.body];
  const out: LoadRow = { ...b, type: 'load', connections, rps: 0, latency: summarize(new Float64Array(0)), errors: 0, errorText: '', cpuPerReq: null, rssIdleKiB: null, rssPeakKiB: null };
  try {
    const res = await fetch(t.url, { method: 'POST', headers: t.headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_S * 1000) });
    const text = await res.text();
    if (res.status !== 200 || !verifyJson(text)) {
      out.problems.push(`preflight failed: status ${res.status}: ${text.slice(0, 200)}`);
      return out;
    }
  } catch (err) {
    out.problems.push(`preflight failed: ${errorMessage(err)}`);
    return out;
  }
  out.rssIdleKiB = t.child === null ? null : rssKiB(t.child.pid);
  const load = { url: t.url, body, headers: t.headers, connections, timeoutS: REQUEST_TIMEOUT_S, verifyBody: verifyJson, rate: row.scenario.rate };
  if (opts.warmupS > 0) {
    opts.progress(`${row.id}: warm-up ${opts.warmupS} s`);
    await runLoad({ ...load, durationS: opts.warmupS });
  }
  if (opts.isInterrupted()) return out;
  opts.progress(`${row.id}: measuring ${opts.durationS} s at ${connections} connection(s)${row.scenario.rate ? `, ${row.scenario.rate} req/s offered` : ''}`);
  const sampler = t.child === null ? null : sampleRss(t.child.pid);
  const cpuBefore = await cpuNow(t);
  const res = await runLoad({ ...load, durationS: opts.durationS });
  const cpuAfter = await cpuNow(t);
  out.rssPeakKiB = sampler?.stop().peakKiB ?? null;
  out.rps = res.ok / (res.elapsedMs / 1000);
  out.latency = summarize(res.latencies);
  out.cpuPerReq = perRequest(cpuBefore, cpuAfter, res.ok);
  const e = loadErrors(res);
  out.errors = e.errors;
  out.errorText = e.text;
  if (res.ok === 0) out.problems.push('no successful response');
  if (e.errors > 0) out.problems.push(e.text);
  opts.progress(
    `${row.id}: ${Math.round(out.rps)} req/s, p50 ${out.latency.p50.toFixed(2)} ms, p99 ${out.latency.p99.toFixed(2)} ms, ` +
      `CPU ${out.cpuPerReq?.toFixed(0) ?? '–'} µs/req, RSS peak ${out.rssPeakKiB === null ? '–' : (out.rssPeakKiB / 1024).toFixed(0)} MiB` +
      (out.problems.length ? ` — INVALID: ${out.problems.join('; ')}` : ''),
  );
  return out;
}

async function measureStream(row: Row, t: Target, opts: RunOptions): Promise<StreamRow> {
  const b = base(row);
  const connections = row.scenario.connections ?? opts.streamConcurrency;
  const nan = summarize(new Float64Array(0));
  const out: StreamRow = { ...b, type: 'stream', connections, rps: 0, ttfb: nan, gap: nan, total: nan, errors: 0, errorText: '', cpuPerReq: null, rssIdleKiB: null, rssPeakKiB: null };
  const load = { url: t.url, headers: t.headers, body: BODIES.stream, timeoutS: STREAM_TIMEOUT_S, expectEvents: STREAM_EVENTS };
  // One stream alone: the row is wired right (and the contender streams at all).
  const check = await runStreams({ ...load, concurrency: 1, durationS: 0.001 });
  if (check.ok !== 1) {
    out.problems.push(`preflight failed: ${Object.keys(check.errorKinds).join('; ') || 'no stream'}`);
    return out;
  }
  out.rssIdleKiB = t.child === null ? null : rssKiB(t.child.pid);
  if (opts.warmupS > 0) {
    opts.progress(`${row.id}: warm-up ${opts.warmupS} s`);
    await runStreams({ ...load, concurrency: connections, durationS: opts.warmupS });
  }
  if (opts.isInterrupted()) return out;
  opts.progress(`${row.id}: measuring ${opts.durationS} s at ${connections} concurrent streams`);
  const sampler = t.child === null ? null : sampleRss(t.child.pid);
  const cpuBefore = await cpuNow(t);
  const res = await runStreams({ ...load, concurrency: connections, durationS: opts.durationS });
  const cpuAfter = await cpuNow(t);
  out.rssPeakKiB = sampler?.stop().peakKiB ?? null;
  out.rps = res.ok / (res.elapsedMs / 1000);
  out.ttfb = summarize(res.ttfb);
  out.gap = summarize(res.gaps);
  out.total = summarize(res.total);
  out.cpuPerReq = perRequest(cpuBefore, cpuAfter, res.ok);
  out.errors = res.errors;
  out.errorText = Object.entries(res.errorKinds).map(([k, n]) => `${n}× ${k}`).join('; ');
  if (res.ok === 0) out.problems.push('no complete stream');
  if (res.errors > 0) out.problems.push(out.errorText);
  opts.progress(
    `${row.id}: ${out.rps.toFixed(1)} streams/s, TTFB p50 ${out.ttfb.p50.toFixed(2)} ms p99 ${out.ttfb.p99.toFixed(2)} ms, ` +
      `gap p50 ${out.gap.p50.toFixed(2)} p99 ${out.gap.p99.toFixed(2)} ms` + (out.problems.length ? ` — INVALID: ${out.problems.join('; ')}` : ''),
  );
  return out;
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measureHold(row: Row, t: Target, opts: RunOptions): Promise<HoldRow> {
  const b = base(row);
  const streams = row.scenario.connections ?? opts.holdStreams;
  const out: HoldRow = { ...b, type: 'hold', streams, flowing: 0, errors: 0, errorText: '', baselineKiB: null, openKiB: null, closedKiB: null };
  if (t.child === null) {
    out.problems.push('no server process to measure');
    return out;
  }
  const target = { url: t.url, headers: t.headers, body: BODIES.stream };
  // Preflight, then a warm-up of 100 held streams, so the baseline is a server that has already
  // served streams (JIT, pools, buffers) and the difference is what open streams hold.
  const warm = holdStreams(target, Math.min(100, streams));
  const warmOk = await warm.waitFlowing(1, 10_000);
  await warm.waitFlowing(Math.min(100, streams), 5_000);
  await warm.close();
  if (!warmOk) {
    out.problems.push(`preflight failed: no stream started (${Object.keys(warm.failures()).join('; ') || 'timeout'})`);
    return out;
  }
  await delay(2_000);
  out.baselineKiB = await settledRssKiB(t.child.pid);
  opts.progress(`${row.id}: baseline ${fmtMiB(out.baselineKiB)} MiB; opening ${streams} streams`);
  const held = holdStreams(target, streams);
  const all = await held.waitFlowing(streams, opts.holdWaitS * 1000);
  out.flowing = held.flowing();
  await delay(1_000);
  out.openKiB = await settledRssKiB(t.child.pid);
  out.flowing = held.flowing();
  out.errors = held.failed();
  out.errorText = Object.entries(held.failures()).map(([k, n]) => `${n}× ${k}`).join('; ');
  await held.close();
  await delay(2_000);
  out.closedKiB = await settledRssKiB(t.child.pid);
  if (out.errors > 0) out.problems.push(`${out.errors} held streams failed: ${out.errorText}`);
  const per = out.openKiB !== null && out.baselineKiB !== null ? (out.openKiB - out.baselineKiB) / streams : null;
  opts.progress(
    `${row.id}: ${out.flowing}/${streams} flowing${all ? '' : ` after ${opts.holdWaitS} s`}, RSS ${fmtMiB(out.baselineKiB)} → ${fmtMiB(out.openKiB)} MiB ` +
      `(${per === null ? '–' : per.toFixed(1)} KiB/stream), after close ${fmtMiB(out.closedKiB)} MiB` +
      (out.problems.length ? ` — INVALID: ${out.problems.join('; ')}` : ''),
  );
  return out;
}

function fmtMiB(kib: number | null): string {
  return kib === null ? '–' : (kib / 1024).toFixed(1);
}
