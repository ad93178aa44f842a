/**
 * Per-process figures from /proc (Linux), the same way for every server under test whatever it
 * runs (our children or the peer): resident memory and CPU time. Each reader returns null when
 * the file is missing (process gone, not Linux).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** VmRSS of `pid`, KiB. */
export function rssKiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

let ticksPerSecond: number | null = null;

function clockTicks(): number {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU time of `pid` (all its threads), µs; resolution one clock tick (10 ms). */
export function cpuMicros(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces; everything after its closing parenthesis is fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after comm.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1e6) / clockTicks() : null;
  } catch {
    return null;
  }
}

export interface RssSampler {
  /** Stops sampling; the highest and the last VmRSS seen, KiB (null if never readable). */
  stop(): { peakKiB: number | null; lastKiB: number | null };
}

/** Samples VmRSS of `pid` every `intervalMs` until stopped: the peak of a load run. */
export function sampleRss(pid: number, intervalMs = 200): RssSampler {
  let peak: number | null = null;
  let last: number | null = null;
  const take = (): void => {
    const v = rssKiB(pid);
    if (v === null) return;
    last = v;
    if (peak === null || v > peak) peak = v;
  };
  take();
  const timer = setInterval(take, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peakKiB: peak, lastKiB: last };
    },
  };
}

/** Median of `n` VmRSS readings `gapMs` apart: one reading can catch a GC half-way. */
export async function settledRssKiB(pid: number, n = 5, gapMs = 300): Promise<number | null> {
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = rssKiB(pid);
    if (v !== null) values.push(v);
    if (i < n - 1) await new Promise((r) => setTimeout(r, gapMs));
  }
  if (values.length === 0) return null;
  values.sort((a, b) => a - b);
  return values[Math.floor((values.length - 1) / 2)] ?? null;
}
