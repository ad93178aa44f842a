/**
 * Starts a worker thread whose entry is a `.ts` module. On Node 20 a worker does not apply the
 * tsx loader to its own entry even with `--import tsx` in its execArgv ("Unknown file extension
 * .ts"), so the thread starts from a tiny script that registers tsx's hooks first and then imports
 * the real entry. tsx is resolved from this package, so the working directory does not matter.
 * A compiled (`.js`) entry is started directly.
 */
import { Worker } from 'node:worker_threads';

export function spawnTsWorker(entry: URL, workerData: unknown): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
