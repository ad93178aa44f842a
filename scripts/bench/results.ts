/**
 * One measured row of each kind, and how rounds of a row combine. Numbers stay raw here
 * (ms, KiB, µs); `report.ts` formats them.
 */
import type { LatencySummary } from './load.ts';
import type { Row } from './plan.ts';

export interface Spread {
  rounds: number;
  min: number;
  max: number;
}

interface Common {
  row: Row;
  /** Why the row cannot be trusted (it did not measure what it claims); empty when valid. */
  problems: string[];
  /** With `--rounds` > 1: range of the row's headline figure over the rounds. */
  spread: Spread | null;
  /** 1-minute load average when the row started. */
  load: number;
}

export interface LoadRow extends Common {
  type: 'load';
  connections: number;
  rps: number;
  latency: LatencySummary;
  /** Connection errors + timeouts + non-2xx + unexpected bodies. */
  errors: number;
  errorText: string;
  /** Server CPU per 2xx response during the measured run, µs (null: not measurable, e.g. direct). */
  cpuPerReq: number | null;
  /** VmRSS of the server: after start-up and preflight, and the peak of the measured run, KiB. */
  rssIdleKiB: number | null;
  rssPeakKiB: number | null;
}

export interface StreamRow extends Common {
  type: 'stream';
  connections: number;
  /** Complete streams per second. */
  rps: number;
  ttfb: LatencySummary;
  gap: LatencySummary;
  total: LatencySummary;
  errors: number;
  errorText: string;
  cpuPerReq: number | null;
  rssIdleKiB: number | null;
  rssPeakKiB: number | null;
}

export interface HoldRow extends Common {
  type: 'hold';
  streams: number;
  /** Streams whose first event arrived within the wait. */
  flowing: number;
  errors: number;
  errorText: string;
  baselineKiB: number | null;
  openKiB: number | null;
  /** After every stream was closed and the server had a moment to let go. */
  closedKiB: number | null;
}

export type RowResult = LoadRow | StreamRow | HoldRow;

/** Per open stream, KiB: (open − baseline) ÷ streams requested. */
export function perStreamKiB(r: HoldRow): number | null {
  return r.openKiB === null || r.baselineKiB === null ? null : (r.openKiB - r.baselineKiB) / r.streams;
}

function headline(r: RowResult): number {
  if (r.type === 'hold') return perStreamKiB(r) ?? Number.NaN;
  return r.rps;
}

/** Several rounds of one row → its median round by the headline figure; invalid if any round was. */
export function combineRounds(rounds: readonly RowResult[]): RowResult {
  const first = rounds[0];
  if (first === undefined) throw new Error('combineRounds: no rounds');
  if (rounds.length === 1) return first;
  const sorted = [...rounds].sort((a, b) => headline(a) - headline(b));
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const problems = rounds.flatMap((r, i) => r.problems.map((p) => `round ${i + 1}: ${p}`));
  const errors = rounds.reduce((n, r) => n + r.errors, 0);
  const errorText = rounds.map((r, i) => (r.errorText ? `round ${i + 1}: ${r.errorText}` : '')).filter(Boolean).join('; ');
  return {
    ...median,
    problems,
    errors,
    errorText,
    spread: { rounds: rounds.length, min: headline(sorted[0]!), max: headline(sorted[sorted.length - 1]!) },
  };
}
