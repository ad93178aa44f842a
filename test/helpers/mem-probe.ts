/**
 * Preloaded into a proxy child process (`--expose-gc --import test/helpers/mem-probe.ts`): on
 * SIGUSR2 it runs two full garbage collections and prints one line
 * `MEMPROBE {"rss":…,"heapUsed":…,"external":…,"arrayBuffers":…}` on stdout, so a test can compare
 * the child's memory before and after a load. Imports nothing, changes nothing else.
 */
process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  process.stdout.write(
    `MEMPROBE ${JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, gc: gc !== undefined })}\n`,
  );
});
