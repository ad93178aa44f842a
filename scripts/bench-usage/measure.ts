/** Sequential HTTP latency measurement against a running proxy, and nearest-rank percentiles. */

export interface Probe {
  /** Short name shown in the report. */
  readonly name: string;
  /** Path and query, e.g. `/api/usage?hours=24`. */
  readonly path: string;
  /** Which acceptance target applies, if any. */
  readonly target: boolean;
  /** Checks one answer's JSON; returns an error message or null. */
  readonly check: (body: unknown) => string | null;
}

export interface Latencies {
  readonly n: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

export function percentiles(samples: readonly number[]): Latencies {
  const v = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))] ?? Number.NaN;
  return { n: v.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: v.at(-1) ?? Number.NaN };
}

/** One request, timed from sending to the last body byte; throws on a non-200 or a failed check. */
export async function timedGet(base: string, probe: Probe, headers: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${base}${probe.path}`, { headers });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`${probe.path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  const problem = probe.check(JSON.parse(text));
  if (problem) throw new Error(`${probe.path}: ${problem}`);
  return ms;
}

/**
 * `warmup` unmeasured rounds, then `rounds` measured ones; each round requests every probe once,
 * in turn, so a burst of load from elsewhere on the machine spreads over all probes alike.
 */
export async function measureAll(
  base: string,
  probes: readonly Probe[],
  opts: { rounds: number; warmup: number; headers?: Record<string, string>; onRound?: (i: number) => void },
): Promise<Map<string, Latencies>> {
  const headers = opts.headers ?? {};
  const samples = new Map<string, number[]>(probes.map((p) => [p.name, []]));
  for (let i = 0; i < opts.warmup + opts.rounds; i++) {
    for (const p of probes) {
      const ms = await timedGet(base, p, headers);
      if (i >= opts.warmup) samples.get(p.name)!.push(ms);
    }
    opts.onRound?.(i);
  }
  return new Map([...samples].map(([k, v]) => [k, percentiles(v)]));
}
