/**
 * Proxy-core benchmark (not a test): requests/s and latency percentiles of yaLLMproxy against
 * the fake upstream called directly and against a bare Hono + undici pass-through, in one run.
 * Prints a table and rewrites the `bench:proxy` section of docs/benchmarks.md.
 *
 *   npm run bench [-- --duration 10] [--warmup 3] [--connections 32] [--rounds 1] [--quick]
 *                 [--sink none[,default]] [--rows id,id] [--cpu-prof] [--no-write]
 *
 * Layout: the fake upstream and each server under test run in their own child processes
 * (scripts/bench/*.ts), autocannon runs here — so the load generator never shares an event
 * loop with the server it measures, and the upstream never shares one with the proxy.
 */
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runLoad, stopCurrentLoad, summarize, type LoadResult } from './bench/load.ts';
import { startChild, stopAllChildren, type ServerChild } from './bench/processes.ts';
import { BENCH_MODEL, isSinkMode, SINK_MODES, UPSTREAM_PREFIX, type SinkMode } from './bench/protocol.ts';
import { hopLatencyLines, section, table, verdicts, writeSection, type RowResult, type RunMeta, type Scenario } from './bench/report.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The table, in run order. A new row (e.g. another sink configuration: add its mode to
 * SINK_MODES and handle it in proxy-server.ts) is one more entry here.
 */
const SCENARIOS: readonly Scenario[] = [
  { id: 'direct', label: 'direct → fake upstream', target: 'direct', stream: false },
  { id: 'bare', label: 'bare Hono + undici pass-through', target: 'bare', stream: false },
  {
    id: 'proxy',
    label: 'yaLLMproxy, sinks disabled',
    target: 'proxy',
    stream: false,
    sink: 'none',
    compare: { bare: 'bare', direct: 'direct' },
    judged: true,
  },
  {
    id: 'proxy-logging',
    label: 'yaLLMproxy, default sinks (createSinks)',
    target: 'proxy',
    stream: false,
    sink: 'default',
    compare: { bare: 'bare', direct: 'direct' },
  },
  // One connection: no queueing, so "added latency" is the cost of the extra hop itself.
  { id: 'direct-c1', label: 'direct → fake upstream, 1 connection', target: 'direct', stream: false, connections: 1 },
  { id: 'bare-c1', label: 'bare pass-through, 1 connection', target: 'bare', stream: false, connections: 1 },
  {
    id: 'proxy-c1',
    label: 'yaLLMproxy, sinks disabled, 1 connection',
    target: 'proxy',
    stream: false,
    sink: 'none',
    connections: 1,
    compare: { bare: 'bare-c1', direct: 'direct-c1' },
  },
  { id: 'direct-stream', label: 'direct → fake upstream, stream', target: 'direct', stream: true },
  { id: 'bare-stream', label: 'bare pass-through, stream (piped)', target: 'bare', stream: true },
  {
    id: 'proxy-stream',
    label: 'yaLLMproxy, stream, sinks disabled',
    target: 'proxy',
    stream: true,
    sink: 'none',
    compare: { bare: 'bare-stream', direct: 'direct-stream' },
  },
];

const REQUEST = {
  model: BENCH_MODEL,
  messages: [
    { role: 'system', content: 'You are a terse assistant.' },
    { role: 'user', content: 'Say hello in one short sentence.' },
  ],
  max_tokens: 32,
  temperature: 0,
};
const BODY = JSON.stringify(REQUEST);
const STREAM_BODY = JSON.stringify({ ...REQUEST, stream: true });
const HEADERS = { 'content-type': 'application/json', authorization: 'Bearer sk-bench-client' };
/** What the fake upstream's `ok` answer always contains. */
const CONTENT_MARKER = 'Hello from fake upstream';
/** Its first word, which a stream sends as a delta of its own. */
const STREAM_MARKER = '"Hello"';
const REQUEST_TIMEOUT_S = 10;

interface Options {
  durationS: number;
  warmupS: number;
  connections: number;
  rounds: number;
  sinks: SinkMode[];
  rows: string[] | null;
  cpuProf: boolean;
  write: boolean;
  out: string;
}

const USAGE = `usage: npm run bench -- [options]
  --duration S       measured seconds per row (default 10; --quick: 3)
  --warmup S         discarded warm-up seconds per row (default 3; --quick: 1)
  --connections N    concurrent connections of rows without their own (default 32)
  --rounds N         run every row N times, interleaved, and report each row's median (default 1)
  --quick            shorter runs, for a quick look
  --sink LIST        proxy sink modes to include, comma-separated: ${SINK_MODES.join(', ')} (default none)
  --rows LIST        only these row ids: ${SCENARIOS.map((s) => s.id).join(', ')}
  --cpu-prof         write .cpuprofile files of each server child to .bench/profiles/<time>/<row>/
  --no-write         print only; leave docs/benchmarks.md alone
  --out PATH         markdown file to update (default docs/benchmarks.md)
`;

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string', default: '32' },
      rounds: { type: 'string', default: '1' },
      quick: { type: 'boolean', default: false },
      sink: { type: 'string', default: 'none' },
      rows: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      out: { type: 'string', default: 'docs/benchmarks.md' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return null;
  }
  const num = (name: string, raw: string, min: number): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const sinks = values.sink.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of sinks) if (!isSinkMode(s)) throw new Error(`--sink: unknown mode ${s} (known: ${SINK_MODES.join(', ')})`);
  const rows = values.rows === undefined ? null : values.rows.split(',').map((s) => s.trim()).filter(Boolean);
  for (const id of rows ?? []) {
    if (!SCENARIOS.some((s) => s.id === id)) throw new Error(`--rows: unknown row ${id} (known: ${SCENARIOS.map((s) => s.id).join(', ')})`);
  }
  return {
    durationS: num('duration', values.duration ?? (values.quick ? '3' : '10'), 1),
    warmupS: num('warmup', values.warmup ?? (values.quick ? '1' : '3'), 0),
    connections: Math.floor(num('connections', values.connections, 1)),
    rounds: Math.floor(num('rounds', values.rounds, 1)),
    sinks: sinks as SinkMode[],
    rows,
    cpuProf: values['cpu-prof'],
    write: !values['no-write'],
    out: resolve(ROOT, values.out),
  };
}

function selected(s: Scenario, opts: Options): boolean {
  if (opts.rows !== null) return opts.rows.includes(s.id);
  return s.target !== 'proxy' || opts.sinks.includes(s.sink ?? 'none');
}

let interrupted = false;

function progress(msg: string): void {
  // stderr, so stdout carries only the result table.
  process.stderr.write(`[bench] ${msg}\n`);
}

interface Context {
  opts: Options;
  upstream: ServerChild;
  profileDir: string | null;
}

function verifier(stream: boolean): (body: string) => boolean {
  return stream
    ? (body) => body.includes(STREAM_MARKER) && body.includes('data: [DONE]') && !body.includes('"error"')
    : (body) => body.includes(CONTENT_MARKER) && body.includes('"usage"');
}

/** One request before the load: the row measures the right thing, and we learn the answer's shape. */
async function preflight(url: string, body: string, stream: boolean): Promise<{ ok: true; text: string } | { ok: false; why: string }> {
  try {
    const res = await fetch(url, { method: 'POST', headers: HEADERS, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_S * 1000) });
    const text = await res.text();
    if (res.status !== 200) return { ok: false, why: `status ${res.status}: ${text.slice(0, 200)}` };
    if (!verifier(stream)(text)) return { ok: false, why: `unexpected body: ${text.slice(0, 200)}` };
    return { ok: true, text };
  } catch (err) {
    return { ok: false, why: err instanceof Error ? err.message : String(err) };
  }
}

async function startTarget(s: Scenario, ctx: Context): Promise<{ url: string; child: ServerChild | null }> {
  const upstreamBase = `${ctx.upstream.url}/${UPSTREAM_PREFIX}/v1`;
  if (s.target === 'direct') return { url: `${upstreamBase}/chat/completions`, child: null };
  // A directory per row and node's default file names: tsx's loader thread writes a profile
  // of its own, and a fixed --cpu-prof-name would let it overwrite the main thread's.
  const nodeArgs = ctx.profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(ctx.profileDir, s.id)}`];
  const child =
    s.target === 'bare'
      ? await startChild({ name: 'bare pass-through', script: 'scripts/bench/bare-passthrough.ts', args: ['--upstream', upstreamBase], nodeArgs, cwd: ROOT })
      : await startChild({
          name: 'yaLLMproxy',
          script: 'scripts/bench/proxy-server.ts',
          args: ['--upstream', upstreamBase, '--sink', s.sink ?? 'none'],
          nodeArgs,
          cwd: ROOT,
        });
  return { url: `${child.url}/v1/chat/completions`, child };
}

function emptyRow(s: Scenario, problems: string[]): RowResult {
  const nan = summarize(new Float64Array(0));
  return {
    scenario: s,
    rps: 0,
    latency: nan,
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    mismatches: 0,
    cpu: { server: null, upstream: null, loadgen: null },
    spread: null,
    problems,
  };
}

async function runScenario(s: Scenario, ctx: Context, shape: { streamEvents: number }): Promise<RowResult> {
  const { opts } = ctx;
  let child: ServerChild | null = null;
  try {
    let url: string;
    try {
      ({ url, child } = await startTarget(s, ctx));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      progress(message);
      return emptyRow(s, [`server did not start: ${message.split('\n')[0]}`]);
    }
    const body = s.stream ? STREAM_BODY : BODY;
    const check = await preflight(url, body, s.stream);
    if (!check.ok) return emptyRow(s, [`preflight failed: ${check.why}`]);
    if (s.stream) shape.streamEvents = (check.text.match(/^data: /gm) ?? []).length;

    const connections = s.connections ?? opts.connections;
    const load = { url, body, headers: HEADERS, connections, timeoutS: REQUEST_TIMEOUT_S, verifyBody: verifier(s.stream) };
    if (opts.warmupS > 0) {
      progress(`${s.id}: warm-up ${opts.warmupS} s`);
      await runLoad({ ...load, durationS: opts.warmupS });
    }
    if (interrupted) return emptyRow(s, ['interrupted']);
    progress(`${s.id}: measuring ${opts.durationS} s at ${connections} connection(s)`);
    const cpuBefore = await cpuSnapshot(child, ctx.upstream);
    const res = await runLoad({ ...load, durationS: opts.durationS });
    const cpuAfter = await cpuSnapshot(child, ctx.upstream);
    const row = toRow(s, res, check.text.length);
    const perRequest = (a: number | null, b: number | null): number | null => (a === null || b === null || res.ok === 0 ? null : (b - a) / res.ok);
    row.cpu = {
      server: perRequest(cpuBefore.server, cpuAfter.server),
      upstream: perRequest(cpuBefore.upstream, cpuAfter.upstream),
      loadgen: perRequest(cpuBefore.loadgen, cpuAfter.loadgen),
    };
    if (interrupted) row.problems.push('interrupted');
    const dead = child?.exited() ?? null;
    if (dead !== null) row.problems.push(`server child ended during the run (${dead})`);
    const upstreamDead = ctx.upstream.exited();
    if (upstreamDead !== null) row.problems.push(`fake upstream ended during the run (${upstreamDead})`);
    const cpu = (v: number | null): string => (v === null ? '–' : v.toFixed(0));
    progress(
      `${s.id}: ${Math.round(row.rps)} req/s, p99 ${row.latency.p99.toFixed(2)} ms, CPU µs/req server ${cpu(row.cpu.server)} ` +
        `upstream ${cpu(row.cpu.upstream)} load generator ${cpu(row.cpu.loadgen)}` +
        (row.problems.length ? ` — INVALID: ${row.problems.join('; ')}` : ''),
    );
    if (row.problems.length && child) progress(`${s.id} server stderr:\n${child.stderrTail().trimEnd() || '(empty)'}`);
    return row;
  } finally {
    await child?.stop();
  }
}

async function cpuSnapshot(
  server: ServerChild | null,
  upstream: ServerChild,
): Promise<{ server: number | null; upstream: number | null; loadgen: number }> {
  const [serverMicros, upstreamMicros] = await Promise.all([server?.cpuMicros() ?? null, upstream.cpuMicros()]);
  const own = process.cpuUsage();
  return { server: serverMicros, upstream: upstreamMicros, loadgen: own.user + own.system };
}

/** Several rounds of one row → the median round by req/s, invalid if any round was. */
function combineRounds(rounds: readonly RowResult[]): RowResult {
  const first = rounds[0];
  if (first === undefined) throw new Error('combineRounds: no rounds');
  if (rounds.length === 1) return first;
  const sorted = [...rounds].sort((a, b) => a.rps - b.rps);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const problems = rounds.flatMap((r, i) => r.problems.map((p) => `round ${i + 1}: ${p}`));
  return {
    ...median,
    problems,
    spread: { rounds: rounds.length, minRps: sorted[0]!.rps, maxRps: sorted[sorted.length - 1]!.rps },
  };
}

function toRow(s: Scenario, res: LoadResult, minBodyBytes: number): RowResult {
  const problems: string[] = [];
  if (res.ok === 0) problems.push('no successful response');
  if (res.errors > 0) problems.push(`${res.errors} errors (${res.timeouts} timeouts)`);
  if (res.non2xx > 0) {
    const codes = Object.entries(res.statusCodes).filter(([c]) => !c.startsWith('2')).map(([c, n]) => `${n}×${c}`);
    problems.push(`non-2xx: ${codes.join(', ')}`);
  }
  if (res.mismatches > 0) problems.push(`${res.mismatches} unexpected bodies`);
  // autocannon's byte count covers head + body, so any complete answer is at least the body size.
  if (res.ok > 0 && res.minBytes < minBodyBytes) problems.push(`short response (${res.minBytes} < ${minBodyBytes} bytes)`);
  return {
    scenario: s,
    rps: res.ok / (res.elapsedMs / 1000),
    latency: summarize(res.latencies),
    errors: res.errors,
    timeouts: res.timeouts,
    non2xx: res.non2xx,
    mismatches: res.mismatches,
    cpu: { server: null, upstream: null, loadgen: null },
    spread: null,
    problems,
  };
}

function commandLine(argv: readonly string[]): string {
  const args = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args ? ` -- ${args}` : ''}`;
  return `npx tsx scripts/bench.ts${args ? ` ${args}` : ''}`;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const opts = parseOptions(argv);
  if (opts === null) return 0;
  const scenarios = SCENARIOS.filter((s) => selected(s, opts));
  if (scenarios.length === 0) throw new Error('no rows selected');

  process.once('SIGINT', () => {
    progress('SIGINT: stopping (again to force)');
    interrupted = true;
    stopCurrentLoad();
    process.once('SIGINT', () => {
      void stopAllChildren().finally(() => process.exit(130));
    });
  });

  let profileDir: string | null = null;
  if (opts.cpuProf) {
    profileDir = join(ROOT, '.bench', 'profiles', new Date().toISOString().replace(/[:.]/g, '-'));
    mkdirSync(profileDir, { recursive: true });
  }

  const rounds = new Map<string, RowResult[]>(scenarios.map((s) => [s.id, []]));
  const shape = { streamEvents: 0 };
  const date = new Date().toISOString();
  const loadBefore = loadavg()[0] ?? 0;
  try {
    progress('starting fake upstream');
    const upstream = await startChild({ name: 'fake upstream', script: 'scripts/bench/upstream.ts', args: [], cwd: ROOT });
    const ctx: Context = { opts, upstream, profileDir };
    // Interleaved (every row, then every row again) so a burst of outside load hits all rows
    // alike instead of skewing one of them; every other round runs backwards so no row always
    // runs right after the same neighbour.
    for (let round = 1; round <= opts.rounds && !interrupted; round++) {
      if (opts.rounds > 1) progress(`round ${round}/${opts.rounds}`);
      for (const s of round % 2 === 1 ? scenarios : [...scenarios].reverse()) {
        if (interrupted) break;
        rounds.get(s.id)!.push(await runScenario(s, ctx, shape));
      }
    }
  } finally {
    await stopAllChildren();
  }
  if (interrupted) {
    progress('interrupted; results are incomplete and were not written');
    return 130;
  }

  const rows = scenarios.map((s) => combineRounds(rounds.get(s.id)!));
  const cpuList = cpus();
  const meta: RunMeta = {
    date,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown CPU',
    cpuCount: cpuList.length,
    memGiB: totalmem() / 1024 ** 3,
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    command: commandLine(argv),
    connections: opts.connections,
    warmupS: opts.warmupS,
    durationS: opts.durationS,
    rounds: opts.rounds,
    loadBefore,
    loadAfter: loadavg()[0] ?? 0,
    bodyBytes: Buffer.byteLength(BODY),
    streamEvents: shape.streamEvents,
    sinks: [...new Set(scenarios.filter((s) => s.target === 'proxy').map((s) => s.sink ?? 'none'))],
  };

  process.stdout.write(`\n${table(rows)}\n\n`);
  for (const v of verdicts(rows)) process.stdout.write(`Targets (${v.row}): ${v.rps.text.replace(/\*\*/g, '')} · ${v.p99.text.replace(/\*\*/g, '')}\n`);
  for (const line of hopLatencyLines(rows)) process.stdout.write(`${line.replace(/`/g, '')}\n`);
  if (profileDir !== null) process.stdout.write(`CPU profiles: ${profileDir}\n`);
  if (opts.write) {
    writeSection(opts.out, section(meta, rows));
    process.stdout.write(`wrote ${opts.out}\n`);
  }
  // A broken row means the run did not measure what it claims; missed targets are a result.
  return rows.some((r) => r.problems.length > 0) ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await stopAllChildren();
    process.exitCode = 1;
  },
);
