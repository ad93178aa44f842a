/**
 * Runs store calls one at a time, in order. A call that never settles (a connection silently gone
 * mid-query: pg has no query timeout by default) fails after `timeoutMs`, so neither the writer nor
 * shutdown can hang on it; if that call commits after all, the rows it wrote are skipped by
 * replay's ON CONFLICT DO NOTHING.
 */
export type Lane = <T>(fn: () => Promise<T>) => Promise<T>;

export function createLane(timeoutMs: number): Lane {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const guarded = (): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`database operation timed out after ${timeoutMs} ms`)), timeoutMs);
      });
      return Promise.race([fn(), expired]).finally(() => clearTimeout(timer));
    };
    const run = tail.then(guarded, guarded);
    tail = run.catch(() => undefined);
    return run;
  };
}
