import { CPU_QUERY } from './protocol.ts';

/**
 * The child-process side of the benchmark protocol, shared by every server the benchmark
 * spawns (`upstream.ts`, `bare-passthrough.ts`, `proxy-server.ts`):
 *
 * - one line `<name> listening on <url>` on stdout once the server accepts connections — the
 *   parent waits for exactly this line, so nothing else may be printed to stdout before it;
 * - the IPC message `CPU_QUERY` is answered with `{ cpuMicros }`, this process's CPU time;
 * - SIGTERM / SIGINT / loss of the parent's IPC channel → close the server, then `process.exit`.
 *   Exiting through `process.exit` (not by dying of the signal) is what lets `--cpu-prof`
 *   write its profile, and the IPC guard keeps a crashed or SIGKILLed parent from leaving
 *   servers behind on the ports.
 */

export interface Closable {
  close(): Promise<void>;
}

/** Prints the line the parent parses, then stops `server` on the first stop request. */
export function serveUntilStopped(name: string, url: string, server: Closable): void {
  process.stdout.write(`${name} listening on ${url}\n`);
  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    // A server that cannot close in time must not hold the benchmark up; the parent would
    // SIGKILL it anyway, but exiting ourselves still writes the CPU profile.
    const force = setTimeout(() => process.exit(0), 10_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`${name}: close after ${why} failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  // Only present when the parent spawned us with an 'ipc' stdio slot.
  if (process.send !== undefined) {
    process.once('disconnect', () => stop('parent disconnect'));
    // CPU time (all threads, µs) on request: the parent's per-request cost figures.
    process.on('message', (m: unknown) => {
      if (m === CPU_QUERY) process.send?.({ cpuMicros: cpuMicros() });
    });
  }
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Runs `main`, turning a start-up failure into a message on stderr and exit code 1. */
export function runChild(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

/** `--name value` from argv; throws when a required one is missing. */
export function argValue(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i === -1 ? undefined : process.argv[i + 1];
  if (value !== undefined && !value.startsWith('--')) return value;
  if (fallback !== undefined) return fallback;
  throw new Error(`missing --${name}`);
}
