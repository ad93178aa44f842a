/**
 * Parent side of the child protocol (`child.ts`): spawns `node --import tsx <script>` (not
 * npx/tsx's CLI, which sit between us and node and do not reliably pass signals on), waits for
 * the `listening on <url>` line, and stops children on request — every child still alive is
 * tracked so a `finally` or a SIGINT can stop them all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { cpuMicros as procCpuMicros } from './proc.ts';
import { CPU_QUERY, LISTENING_LINE } from './protocol.ts';

export interface ServerChild {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  /** null while it runs, else how it ended. */
  exited(): string | null;
  /** The last few KB the child wrote to stderr. */
  stderrTail(): string;
  /** CPU time the child has used so far (user + system, all threads), µs; null if it did not say. */
  cpuMicros(): Promise<number | null>;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  /** Path of the .ts entry point, absolute or relative to `cwd`. */
  script: string;
  args: readonly string[];
  /** Extra node flags (e.g. `--cpu-prof`). */
  nodeArgs?: readonly string[];
  cwd: string;
  startTimeoutMs?: number;
}

/**
 * Node flags of every server child we write (the proxy, the bare pass-through and the fake
 * upstream alike, so the comparison stays like for like): the ones `npm start` runs the proxy with (package.json; a test
 * keeps the two equal). A 64 MB young generation lets records and response buffers that live for
 * a batch interval die young instead of being copied twice and promoted: fewer, shorter
 * scavenges on the event loop (docs/benchmarks.md has the figures).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

/**
 * For the reports of benchmarks that measure in their own process (writer, parsers): the node
 * flags this process runs with, against the ones `npm start` gives the proxy.
 */
export function ownNodeFlagsNote(): string {
  const own = process.execArgv.filter((a) => a.startsWith('--max-')).join(' ');
  const server = SERVER_NODE_FLAGS.join(' ');
  return `node ${own || 'without flags'}${own === server ? ', as `npm start` runs the proxy' : `; \`npm start\` runs the proxy with ${server}`}`;
}

const STDERR_KEEP = 8 * 1024;
const STOP_GRACE_MS = 15_000;
const live = new Set<ServerChild>();

export function startChild(opts: SpawnOptions): Promise<ServerChild> {
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...(opts.nodeArgs ?? []), '--import', 'tsx', opts.script, ...opts.args], {
    cwd: opts.cwd,
    // 'ipc' only so the child notices when this process dies (see child.ts).
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderr = (stderr + s).slice(-STDERR_KEEP);
  });
  let exitInfo: string | null = null;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = signal !== null ? `killed by ${signal}` : `exit code ${code}`;
      resolve();
    });
  });

  return new Promise<ServerChild>((resolve, reject) => {
    const fail = (why: string): void => {
      lines.close();
      clearTimeout(timer);
      kill(child);
      reject(new Error(`${opts.name}: ${why}${stderr ? `\n--- stderr ---\n${stderr.trimEnd()}` : ''}`));
    };
    const timer = setTimeout(() => fail(`no "listening on" line within ${opts.startTimeoutMs ?? 30_000} ms`), opts.startTimeoutMs ?? 30_000);
    // readline keeps consuming stdout after the announcement, so the child never blocks on a
    // full pipe.
    const lines = createInterface({ input: child.stdout! });
    let ready = false;
    lines.on('line', (line) => {
      if (ready) return;
      const m = LISTENING_LINE.exec(line);
      if (!m) return;
      ready = true;
      clearTimeout(timer);
      const handle: ServerChild = {
        name: opts.name,
        url: m[2]!,
        pid: child.pid!,
        exited: () => exitInfo,
        stderrTail: () => stderr,
        // /proc first: the same measure as for external children (the peer), all threads.
        cpuMicros: () => {
          const fromProc = procCpuMicros(child.pid!);
          return fromProc === null ? askCpu(child) : Promise.resolve(fromProc);
        },
        stop: async () => {
          live.delete(handle);
          if (exitInfo !== null) return;
          child.kill('SIGTERM');
          const graceful = await Promise.race([exitedPromise.then(() => true), delay(STOP_GRACE_MS).then(() => false)]);
          if (!graceful) {
            child.kill('SIGKILL');
            await exitedPromise;
          }
        },
      };
      live.add(handle);
      resolve(handle);
    });
    child.once('error', (err) => fail(`spawn failed: ${err.message}`));
    void exitedPromise.then(() => {
      if (!ready) fail(`exited before listening (${exitInfo})`);
    });
  });
}

export interface ExternalOptions {
  name: string;
  /** Executable and arguments; `{port}` in an argument is replaced by a free port. */
  command: string;
  args: readonly string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
  host?: string;
  startTimeoutMs?: number;
}

/**
 * A server that does not speak the child protocol (the peer gateway): started on a free port,
 * ready once that port accepts a TCP connection, stopped with SIGTERM (SIGKILL after a grace).
 * Its output is drained (a full pipe would block it) and the tail of both kept for diagnosis.
 */
export async function startExternal(opts: ExternalOptions): Promise<ServerChild> {
  const host = opts.host ?? '127.0.0.1';
  const port = await freePort(host);
  const child = spawn(opts.command, opts.args.map((a) => a.replaceAll('{port}', String(port))), {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (s: string): void => {
    output = (output + s).slice(-STDERR_KEEP);
  };
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exitInfo: string | null = null;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = signal !== null ? `killed by ${signal}` : `exit code ${code}`;
      resolve();
    });
  });
  const spawnError = new Promise<string>((resolve) => child.once('error', (err) => resolve(err.message)));
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  for (;;) {
    if (await canConnect(host, port)) break;
    const failed = await Promise.race([spawnError, delay(150).then(() => null)]);
    const why = failed !== null ? `spawn failed: ${failed}` : exitInfo !== null ? `exited before listening (${exitInfo})` : Date.now() > deadline ? 'port not open in time' : null;
    if (why !== null) {
      kill(child);
      throw new Error(`${opts.name}: ${why}${output ? `\n--- output ---\n${output.trimEnd()}` : ''}`);
    }
  }
  const handle: ServerChild = {
    name: opts.name,
    url: `http://${host}:${port}`,
    pid: child.pid!,
    exited: () => exitInfo,
    stderrTail: () => output,
    cpuMicros: () => Promise.resolve(procCpuMicros(child.pid!)),
    stop: async () => {
      live.delete(handle);
      if (exitInfo !== null) return;
      child.kill('SIGTERM');
      const graceful = await Promise.race([exitedPromise.then(() => true), delay(5_000).then(() => false)]);
      if (!graceful) {
        child.kill('SIGKILL');
        await exitedPromise;
      }
    },
  };
  live.add(handle);
  return handle;
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(1_000, () => done(false));
  });
}

/** Stops every child still running (in parallel: they are independent). */
export async function stopAllChildren(): Promise<void> {
  await Promise.allSettled([...live].map((c) => c.stop()));
}

function askCpu(child: ChildProcess): Promise<number | null> {
  if (!child.connected) return Promise.resolve(null);
  return new Promise((resolve) => {
    const onMessage = (m: unknown): void => {
      if (typeof m !== 'object' || m === null || typeof (m as { cpuMicros?: unknown }).cpuMicros !== 'number') return;
      done((m as { cpuMicros: number }).cpuMicros);
    };
    const done = (v: number | null): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(v);
    };
    const timer = setTimeout(() => done(null), 2_000);
    child.on('message', onMessage);
    child.send(CPU_QUERY, (err) => {
      if (err) done(null);
    });
  });
}

function kill(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
