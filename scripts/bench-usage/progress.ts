/**
 * A progress bar on stderr: rows done, percentage, rows/s (over the last few seconds) and ETA.
 * On a TTY one line is redrawn in place (at most 10 times a second); otherwise a plain line is
 * printed every `intervalMs`, so logs of a CI run stay readable.
 */
export interface Progress {
  update(done: number): void;
  /** Prints the final line (and a newline on a TTY). */
  finish(done: number, note?: string): void;
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');

function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function createProgress(label: string, total: number, opts: { stream?: NodeJS.WriteStream; intervalMs?: number } = {}): Progress {
  const out = opts.stream ?? process.stderr;
  const tty = out.isTTY === true;
  const interval = tty ? 100 : (opts.intervalMs ?? 5_000);
  const t0 = performance.now();
  // (time, done) samples of the last ~5 s: the rate shown is recent, the ETA follows it.
  const samples: { t: number; done: number }[] = [{ t: t0, done: 0 }];
  let last = 0;

  const line = (done: number, now: number): string => {
    // Keep the newest sample that is at least 5 s old as the base of the rate.
    while (samples.length > 2 && now - samples[1]!.t >= 5_000) samples.shift();
    const first = samples[0]!;
    const rate = now - first.t > 0 ? ((done - first.done) / (now - first.t)) * 1000 : 0;
    const pct = total > 0 ? Math.min(1, done / total) : 1;
    const width = 28;
    const filled = Math.round(pct * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    const eta = rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY;
    return `${label} ${bar} ${(pct * 100).toFixed(1).padStart(5)}%  ${fmtInt(done)}/${fmtInt(total)} rows  ${fmtInt(rate)} rows/s  elapsed ${fmtDuration((now - t0) / 1000)}  ETA ${fmtDuration(eta)}`;
  };

  return {
    update(done) {
      const now = performance.now();
      if (now - last < interval) return;
      last = now;
      samples.push({ t: now, done });
      const text = line(done, now);
      out.write(tty ? `\r${text}\x1b[K` : `${text}\n`);
    },
    finish(done, note) {
      const now = performance.now();
      const avg = (done / Math.max(1e-9, now - t0)) * 1000;
      const text = `${label} ${fmtInt(done)}/${fmtInt(total)} rows in ${fmtDuration((now - t0) / 1000)} (${fmtInt(avg)} rows/s)${note ? `  ${note}` : ''}`;
      out.write(tty ? `\r${text}\x1b[K\n` : `${text}\n`);
    },
  };
}
