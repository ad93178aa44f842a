/**
 * Turns benchmark rows into the stdout table and the `docs/benchmarks.md` section. Other
 * benchmarks own other sections of that file, so only the text between this benchmark's
 * markers is ever replaced.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LatencySummary } from './load.ts';
import type { SinkMode } from './protocol.ts';

export type Target = 'direct' | 'bare' | 'proxy';

/** One row of the table. Adding a row to the benchmark is adding one of these to the list. */
export interface Scenario {
  /** Short id, used by `--rows` and by `compare` of other rows. */
  id: string;
  label: string;
  target: Target;
  /** Request `"stream": true` (SSE answer) instead of a JSON completion. */
  stream: boolean;
  /** Proxy rows only: which sinks the proxy child runs with (default 'none'). */
  sink?: SinkMode;
  /** Fixed concurrency for this row; default: `--connections`. */
  connections?: number;
  /** Rows (same stream mode and connections) this one's overhead is measured against. */
  compare?: { bare: string; direct: string };
  /** Judged against the issue's targets (≥ 80 % of bare req/s, p99 added ≤ 2 ms). */
  judged?: boolean;
}

export interface RowResult {
  scenario: Scenario;
  /** 2xx responses per second of the measured run. */
  rps: number;
  latency: LatencySummary;
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  /** CPU time per 2xx response during the measured run, µs; null when not measured / no such process. */
  cpu: { server: number | null; upstream: number | null; loadgen: number | null };
  /** With `--rounds` > 1: the row shows the median round by req/s; this is the spread over all rounds. */
  spread: { rounds: number; minRps: number; maxRps: number } | null;
  /** Why the row cannot be trusted; empty when it is valid. */
  problems: string[];
}

export const TARGET_RPS_PCT = 80;
export const TARGET_P99_ADDED_MS = 2;

interface Derived {
  pctOfBare: number | null;
  p99VsDirect: number | null;
  p99VsBare: number | null;
}

function derive(row: RowResult, byId: ReadonlyMap<string, RowResult>): Derived {
  const none: Derived = { pctOfBare: null, p99VsDirect: null, p99VsBare: null };
  const cmp = row.scenario.compare;
  if (!cmp || row.problems.length > 0) return none;
  const bare = byId.get(cmp.bare);
  const direct = byId.get(cmp.direct);
  const usable = (r: RowResult | undefined): r is RowResult => r !== undefined && r.problems.length === 0;
  return {
    pctOfBare: usable(bare) ? (row.rps / bare.rps) * 100 : null,
    p99VsDirect: usable(direct) ? row.latency.p99 - direct.latency.p99 : null,
    p99VsBare: usable(bare) ? row.latency.p99 - bare.latency.p99 : null,
  };
}

const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');
const signedMs = (v: number | null): string => (v === null ? '–' : `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(2)}`);
const micros = (v: number | null): string => (v === null || !Number.isFinite(v) ? '–' : v.toFixed(0));
const pct = (v: number | null): string => (v === null ? '–' : `${v.toFixed(1)} %`);

export function table(rows: readonly RowResult[]): string {
  const byId = new Map(rows.map((r) => [r.scenario.id, r]));
  const head = [
    'Scenario',
    'req/s',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'max ms',
    'errors',
    'non-2xx',
    'req/s vs bare',
    'p99 added vs direct, ms',
    'p99 added vs bare, ms',
    'server CPU µs/req',
    'upstream CPU µs/req',
    'status',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i === 0 || i === head.length - 1 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows) {
    const d = derive(r, byId);
    const invalid = r.problems.length > 0;
    const cells = [
      `${r.scenario.label} (\`${r.scenario.id}\`)`,
      // An invalid row keeps its numbers for diagnosis but must not read as a result.
      (invalid ? `~~${Math.round(r.rps)}~~` : String(Math.round(r.rps))) +
        (r.spread ? ` (${Math.round(r.spread.minRps)}–${Math.round(r.spread.maxRps)} over ${r.spread.rounds})` : ''),
      ms(r.latency.p50),
      ms(r.latency.p90),
      ms(r.latency.p99),
      ms(r.latency.max),
      String(r.errors),
      String(r.non2xx),
      pct(d.pctOfBare),
      signedMs(d.p99VsDirect),
      signedMs(d.p99VsBare),
      micros(r.cpu.server),
      micros(r.cpu.upstream),
      invalid ? `**INVALID**: ${r.problems.join('; ')}` : 'ok',
    ];
    lines.push(`| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`);
  }
  return lines.join('\n');
}

export interface Verdict {
  row: string;
  rps: { ok: boolean; text: string };
  p99: { ok: boolean; text: string };
}

/** One verdict per judged row; a row that could not be measured fails. */
export function verdicts(rows: readonly RowResult[]): Verdict[] {
  const byId = new Map(rows.map((r) => [r.scenario.id, r]));
  return rows
    .filter((r) => r.scenario.judged)
    .map((r) => {
      const d = derive(r, byId);
      const rpsOk = d.pctOfBare !== null && d.pctOfBare >= TARGET_RPS_PCT;
      const p99Ok = d.p99VsDirect !== null && d.p99VsDirect <= TARGET_P99_ADDED_MS;
      // How much the minimal pass-through itself adds: the part of the gap no proxy code can remove.
      const bare = r.scenario.compare ? byId.get(r.scenario.compare.bare) : undefined;
      const direct = r.scenario.compare ? byId.get(r.scenario.compare.direct) : undefined;
      const bareAdded =
        bare && direct && bare.problems.length === 0 && direct.problems.length === 0 ? bare.latency.p99 - direct.latency.p99 : null;
      return {
        row: r.scenario.id,
        rps: {
          ok: rpsOk,
          text: `req/s ≥ ${TARGET_RPS_PCT} % of bare: **${rpsOk ? 'PASS' : 'FAIL'}** (${d.pctOfBare === null ? 'not measurable' : pct(d.pctOfBare)})`,
        },
        p99: {
          ok: p99Ok,
          text:
            `p99 added vs direct ≤ ${TARGET_P99_ADDED_MS} ms: **${p99Ok ? 'PASS' : 'FAIL'}** ` +
            `(${d.p99VsDirect === null ? 'not measurable' : `${signedMs(d.p99VsDirect)} ms`}; vs bare ${signedMs(d.p99VsBare)} ms; ` +
            `the bare pass-through itself adds ${signedMs(bareAdded)} ms)`,
        },
      };
    });
}

/**
 * For rows at one connection: nothing queues there, so row − direct is the latency of the extra
 * hop itself, the reading of "added latency" that does not depend on throughput.
 */
export function hopLatencyLines(rows: readonly RowResult[]): string[] {
  const byId = new Map(rows.map((r) => [r.scenario.id, r]));
  const out: string[] = [];
  for (const r of rows) {
    const cmp = r.scenario.compare;
    if (r.scenario.connections !== 1 || !cmp || r.problems.length > 0) continue;
    const direct = byId.get(cmp.direct);
    const bare = byId.get(cmp.bare);
    if (!direct || direct.problems.length > 0) continue;
    const vsBare = bare && bare.problems.length === 0
      ? `; vs bare p50 ${signedMs(r.latency.p50 - bare.latency.p50)} ms, p99 ${signedMs(r.latency.p99 - bare.latency.p99)} ms`
      : '';
    out.push(
      `Added latency of the hop at 1 connection (\`${r.scenario.id}\`): p50 ${signedMs(r.latency.p50 - direct.latency.p50)} ms, ` +
        `p99 ${signedMs(r.latency.p99 - direct.latency.p99)} ms vs direct${vsBare}.`,
    );
  }
  return out;
}

export interface RunMeta {
  date: string;
  cpuModel: string;
  cpuCount: number;
  memGiB: number;
  os: string;
  node: string;
  command: string;
  connections: number;
  warmupS: number;
  durationS: number;
  rounds: number;
  /** 1-minute load averages before and after the run: a busy machine skews every row. */
  loadBefore: number;
  loadAfter: number;
  bodyBytes: number;
  streamEvents: number;
  sinks: readonly string[];
}

export const SECTION_START = '<!-- bench:proxy:start -->';
export const SECTION_END = '<!-- bench:proxy:end -->';

export function section(meta: RunMeta, rows: readonly RowResult[]): string {
  const v = verdicts(rows);
  const targetLines = v.length
    ? v.map((x) => `**Targets** (\`${x.row}\`, ${meta.connections} connections): ${x.rps.text} · ${x.p99.text}`)
    : ['**Targets**: not evaluated (no judged row was run).'];
  return [
    SECTION_START,
    '## Proxy core: throughput and added latency',
    '',
    '_Written by `npm run bench` (`scripts/bench.ts`); everything between the `bench:proxy` markers is replaced on each run._',
    '',
    `- Date: ${meta.date}`,
    `- Machine: ${meta.cpuModel} × ${meta.cpuCount} logical CPUs, ${meta.memGiB.toFixed(1)} GiB RAM, ${meta.os}`,
    `- Node: ${meta.node}; 1-min load average ${meta.loadBefore.toFixed(2)} before the run, ${meta.loadAfter.toFixed(2)} after ` +
      `(the benchmark itself keeps about 3 processes busy)`,
    `- Command: \`${meta.command}\``,
    `- Parameters: ${meta.connections} connections (rows named "1 connection": 1), pipelining 1, ${meta.warmupS} s warm-up + ${meta.durationS} s measured per row` +
      `${meta.rounds > 1 ? ` and round (${meta.rounds} rounds, interleaved)` : ''}, ` +
      `${meta.bodyBytes}-byte chat completion request (non-stream rows: JSON answer` +
      `${meta.streamEvents > 0 ? `; stream rows: \`"stream": true\`, ${meta.streamEvents} SSE events` : ''}), ` +
      `proxy sinks: ${meta.sinks.join(', ') || '–'}`,
    '',
    table(rows),
    '',
    ...targetLines,
    ...hopLatencyLines(rows).map((l) => `\n${l}`),
    '',
    '### Method',
    '',
    '- Three kinds of process, so no two of them share an event loop: the fake upstream (`scripts/bench/upstream.ts`, ' +
      'one process for the whole run, requests not recorded), the server under test (a fresh `node --import tsx` child per row) ' +
      'and autocannon (in the benchmark process). On a 2-core machine they compete for the cores, the same way for every row.',
    '- Rows: **direct** = autocannon → fake upstream; **bare** = a minimal Hono + @hono/node-server + undici Pool ' +
      'pass-through (`scripts/bench/bare-passthrough.ts`: reads the body, forwards it, returns status + content-type + body; ' +
      'no parsing, validation, routing or logging) — the least a Hono + undici proxy can cost; **proxy** = yaLLMproxy ' +
      '(`startProxy`, `scripts/bench/proxy-server.ts`) with the given sinks.',
    '- Each row: one request is checked first (200 and the expected content), then a warm-up run (discarded), then the ' +
      'measured run on fresh connections. Closed loop: each connection sends its next request as soon as the previous one ' +
      'is answered, so at saturation latency and throughput are tied (mean latency ≈ connections ÷ req/s), and p99 "added ' +
      'latency" includes the queueing caused by a lower throughput, not just the extra hop.',
    '- The "1 connection" rows send one request at a time: nothing queues, so their added latency is the cost of the ' +
      'extra hop itself (parse, route, forward, relay), independent of throughput.',
    '- req/s = 2xx responses ÷ measured wall time. Latency = time from request sent to last response byte (for streams: ' +
      'the whole stream), per response from autocannon\'s `response` event; percentiles are exact nearest-rank over all 2xx ' +
      'responses (autocannon\'s own histogram rounds to whole ms). Added latency = row p99 − comparison row p99, same ' +
      'stream mode.',
    '- CPU µs/req = CPU time (user + system, all threads, from `process.cpuUsage()` of the child) spent during the ' +
      'measured run ÷ 2xx responses; server CPU of proxy − bare is roughly what the proxy\'s own code costs per request. ' +
      'It is less sensitive to other load than req/s, but not immune: contention and a lower request rate (less work per ' +
      'event-loop turn) both raise it.',
    '- With `--rounds N` the rows run N times, interleaved (all rows, then all rows again in reverse order), and each row shows its median ' +
      'round by req/s with the spread in brackets; a row is invalid if any of its rounds is.',
    '- A row is **INVALID** (struck-through req/s, no derived numbers, targets fail) when any request errored or timed out ' +
      '(10 s), answered non-2xx, had an unexpected body, or when the server child died.',
    '',
    '### How to reproduce',
    '',
    '```sh',
    'npm run bench                                  # full run (3 s warm-up + 10 s per row), rewrites this section',
    'npm run bench -- --quick                       # 1 s + 3 s per row, for a quick look',
    'npm run bench -- --duration 30 --connections 64',
    'npm run bench -- --rounds 3                    # interleaved repeats, median shown: use on a busy machine',
    'npm run bench -- --rows direct,bare,proxy      # a subset of the rows',
    'npm run bench -- --sink none,default           # adds the rows with the default sinks (files + database)',
    'npm run bench -- --rows bare,proxy --cpu-prof  # .cpuprofile per server child: .bench/profiles/<time>/<row>/',
    'npm run bench -- --no-write                    # print only, leave this file alone',
    '```',
    '',
    'Numbers depend on the machine and on what else runs on it; compare rows of one run rather than runs of different days.',
    SECTION_END,
  ].join('\n');
}

/** Replaces this benchmark's section of `path`, keeping everything around it (other benchmarks' sections). */
export function writeSection(path: string, text: string): void {
  const existing = existsSync(path) ? readFileSync(path, 'utf8') : '';
  let out: string;
  const start = existing.indexOf(SECTION_START);
  const end = existing.indexOf(SECTION_END, start === -1 ? 0 : start);
  if (start !== -1 && end !== -1) {
    out = existing.slice(0, start) + text + existing.slice(end + SECTION_END.length);
  } else if (existing.trim() === '') {
    out = `# Benchmarks\n\n${text}\n`;
  } else {
    out = `${existing.trimEnd()}\n\n${text}\n`;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, out);
}
