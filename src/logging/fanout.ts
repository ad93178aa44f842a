import type { RequestSink } from './types.ts';

/** One record to every sink; a sink that throws cannot stop the others. */
export function fanOut(sinks: readonly RequestSink[]): RequestSink {
  if (sinks.length === 1) return sinks[0]!;
  return {
    publish(record) {
      for (const sink of sinks) {
        try {
          sink.publish(record);
        } catch {
          // publish() must not throw; the broken sink's own counters report it.
        }
      }
    },
    async close() {
      await Promise.allSettled(sinks.map((s) => s.close?.()));
    },
  };
}

export const nullSink: RequestSink = { publish() {}, keepsRecords: false };

/** Keeps records in memory, for tests and benchmarks. */
export class MemorySink implements RequestSink {
  readonly records: import('./types.ts').RequestRecord[] = [];
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  publish(record: import('./types.ts').RequestRecord): void {
    this.records.push(record);
    this.waiters = this.waiters.filter((w) => {
      if (this.records.length >= w.n) w.resolve();
      return this.records.length < w.n;
    });
  }

  /** Resolves once `n` records have arrived; rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs = 5000): Promise<void> {
    if (this.records.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`expected ${n} records, got ${this.records.length}`)), timeoutMs);
      this.waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }
}
