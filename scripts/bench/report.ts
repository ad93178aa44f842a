/**
 * Turns benchmark rows into the stdout tables and the `docs/benchmarks.md` section. Other
 * benchmarks own other sections of that file, so only the text between this benchmark's
 * markers is ever replaced.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ContenderId } from './plan.ts';
import { PACED_RATE, SCENARIOS } from './plan.ts';
import { perStreamKiB, type HoldRow, type LoadRow, type RowResult, type StreamRow } from './results.ts';
import { SERVER_NODE_FLAGS } from './processes.ts';

export const TARGET_PEER_MULTIPLE = 4;
export const TARGET_BARE_PCT = 80;
export const TARGET_TTFB_ADDED_MS = 2;
export const TARGET_P99_ADDED_MS = 2;
export const TARGET_STREAM_KIB = 64;

type Results = ReadonlyMap<string, RowResult>;

const valid = (r: RowResult | undefined): r is RowResult => r !== undefined && r.problems.length === 0;
const get = <T extends RowResult['type']>(rs: Results, id: string, type: T): Extract<RowResult, { type: T }> | undefined => {
  const r = rs.get(id);
  return r?.type === type ? (r as Extract<RowResult, { type: T }>) : undefined;
};

const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');
const signed = (v: number | null, digits = 2): string => (v === null || !Number.isFinite(v) ? '–' : `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`);
const num0 = (v: number | null): string => (v === null || !Number.isFinite(v) ? '–' : v.toFixed(0));
const mib = (kib: number | null): string => (kib === null ? '–' : (kib / 1024).toFixed(1));
const pct = (v: number | null): string => (v === null || !Number.isFinite(v) ? '–' : `${v.toFixed(1)} %`);
const times = (v: number | null): string => (v === null || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}×`);

function headline(r: RowResult, text: string): string {
  const spread = r.spread ? ` (${r.spread.min.toFixed(r.type === 'load' ? 0 : 1)}–${r.spread.max.toFixed(r.type === 'load' ? 0 : 1)} over ${r.spread.rounds})` : '';
  return (r.problems.length ? `~~${text}~~` : text) + spread;
}

function status(r: RowResult): string {
  return r.problems.length ? `**INVALID**: ${r.problems.join('; ')}` : 'ok';
}

function mdTable(head: string[], rows: string[][]): string {
  const align = head.map((_, i) => (i === 0 || i === head.length - 1 ? ' --- ' : ' ---: '));
  return [`| ${head.join(' | ')} |`, `|${align.join('|')}|`, ...rows.map((cells) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`)].join('\n');
}

/** Ratio of this row's rps to another contender's in the same scenario (both valid). */
function ratio(rs: Results, r: LoadRow | StreamRow, other: ContenderId): number | null {
  const o = rs.get(`${r.row.scenario.id}/${other}`);
  if (!valid(r) || !valid(o) || (o.type !== 'load' && o.type !== 'stream') || o.rps === 0) return null;
  return r.rps / o.rps;
}

function loadTable(rs: Results, rows: readonly LoadRow[]): string {
  return mdTable(
    ['Contender', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', '% of direct', '% of bare', '× peer', 'server CPU µs/req', 'RSS idle / run peak MiB', 'status'],
    rows.map((r) => {
      const toPct = (v: number | null): string => pct(v === null ? null : v * 100);
      return [
        `${r.row.contender.label} (\`${r.row.id}\`)`,
        String(r.connections || r.row.scenario.connections || '–'),
        headline(r, String(Math.round(r.rps))),
        ms(r.latency.p50),
        ms(r.latency.p99),
        ms(r.latency.max),
        String(r.errors),
        r.row.contender.id === 'direct' ? '–' : toPct(ratio(rs, r, 'direct')),
        r.row.contender.id === 'bare' || r.row.contender.id === 'direct' ? '–' : toPct(ratio(rs, r, 'bare')),
        r.row.contender.id === 'peer' ? '–' : times(ratio(rs, r, 'peer')),
        num0(r.cpuPerReq),
        r.rssIdleKiB === null ? '–' : `${mib(r.rssIdleKiB)} / ${mib(r.rssPeakKiB)}`,
        status(r),
      ];
    }),
  );
}

function vsDirect(rs: Results, r: StreamRow, pick: (d: StreamRow) => number): number | null {
  const d = get(rs, `${r.row.scenario.id}/direct`, 'stream');
  return valid(r) && valid(d) && r.row.contender.id !== 'direct' ? pick(r) - pick(d) : null;
}

function streamTable(rs: Results, rows: readonly StreamRow[]): string {
  return mdTable(
    ['Contender', 'streams/s', 'TTFB p50 ms', 'TTFB p99 ms', 'TTFB added p50 / p99 ms', 'gap p50 ms', 'gap p99 ms', 'gap max ms', 'gap added p50 / p99 ms', 'stream p50 ms (added)', 'errors', '× peer', 'server CPU µs/stream', 'RSS idle / run peak MiB', 'status'],
    rows.map((r) => [
      `${r.row.contender.label} (\`${r.row.id}\`)`,
      headline(r, r.rps.toFixed(1)),
      ms(r.ttfb.p50),
      ms(r.ttfb.p99),
      `${signed(vsDirect(rs, r, (x) => x.ttfb.p50))} / ${signed(vsDirect(rs, r, (x) => x.ttfb.p99))}`,
      ms(r.gap.p50),
      ms(r.gap.p99),
      ms(r.gap.max),
      `${signed(vsDirect(rs, r, (x) => x.gap.p50))} / ${signed(vsDirect(rs, r, (x) => x.gap.p99))}`,
      `${ms(r.total.p50)} (${signed(vsDirect(rs, r, (x) => x.total.p50))})`,
      String(r.errors),
      r.row.contender.id === 'peer' ? '–' : times(ratio(rs, r, 'peer')),
      num0(r.cpuPerReq),
      r.rssIdleKiB === null ? '–' : `${mib(r.rssIdleKiB)} / ${mib(r.rssPeakKiB)}`,
      status(r),
    ]),
  );
}

function holdTable(rows: readonly HoldRow[]): string {
  return mdTable(
    ['Contender', 'streams', 'flowing', 'RSS baseline MiB', 'RSS open MiB', 'RSS after close MiB', 'KiB per stream', 'errors', 'status'],
    rows.map((r) => [
      `${r.row.contender.label} (\`${r.row.id}\`)`,
      String(r.streams),
      String(r.flowing),
      mib(r.baselineKiB),
      mib(r.openKiB),
      mib(r.closedKiB),
      headline(r, num0(perStreamKiB(r))),
      String(r.errors),
      status(r),
    ]),
  );
}

export interface Verdict {
  target: string;
  measured: string;
  /** null: not measured in this run (row not selected or invalid). */
  pass: boolean | null;
  why: string;
}

function cpuNote(r: LoadRow | StreamRow | undefined): string {
  return r?.cpuPerReq == null ? '–' : `${r.cpuPerReq.toFixed(0)} µs`;
}

export function verdicts(rs: Results): Verdict[] {
  const out: Verdict[] = [];
  const notRun = (target: string, ids: string[]): Verdict => ({
    target,
    measured: 'not measured',
    pass: null,
    why: `needs valid rows ${ids.map((i) => `\`${i}\``).join(', ')}${ids.some((i) => rs.get(i)?.problems.length) ? ` (invalid: ${ids.flatMap((i) => rs.get(i)?.problems ?? []).join('; ')})` : ''}`,
  });

  {
    const t = `default logging ≥ ${TARGET_PEER_MULTIPLE}× the peer's req/s at 32 connections`;
    const a = get(rs, 'chat32/proxy-logging', 'load');
    const p = get(rs, 'chat32/peer', 'load');
    if (!valid(a) || !valid(p)) out.push(notRun(t, ['chat32/proxy-logging', 'chat32/peer']));
    else {
      const x = a.rps / p.rps;
      const s = get(rs, 'chat32/proxy', 'load');
      out.push({
        target: t,
        measured: `${x.toFixed(2)}× (${Math.round(a.rps)} vs ${Math.round(p.rps)} req/s)`,
        pass: x >= TARGET_PEER_MULTIPLE,
        why:
          x >= TARGET_PEER_MULTIPLE
            ? ''
            : `server CPU per request: default logging ${cpuNote(a)}, sinks off ${cpuNote(s)}, peer ${cpuNote(p)}; on 2 shared cores req/s ≈ the inverse of that cost`,
      });
    }
  }
  {
    const t = `sinks off ≥ ${TARGET_BARE_PCT} % of the bare pass-through's req/s (32 connections)`;
    const a = get(rs, 'chat32/proxy', 'load');
    const b = get(rs, 'chat32/bare', 'load');
    if (!valid(a) || !valid(b)) out.push(notRun(t, ['chat32/proxy', 'chat32/bare']));
    else {
      const x = (a.rps / b.rps) * 100;
      out.push({
        target: t,
        measured: `${x.toFixed(1)} % (${Math.round(a.rps)} vs ${Math.round(b.rps)} req/s)`,
        pass: x >= TARGET_BARE_PCT,
        why: x >= TARGET_BARE_PCT ? '' : `server CPU per request: yaLLMproxy ${cpuNote(a)} vs bare ${cpuNote(b)}`,
      });
    }
  }
  {
    const rate = SCENARIOS.find((sc) => sc.id === 'chat32r')?.rate ?? 0;
    const t = `p99 added latency ≤ ${TARGET_P99_ADDED_MS} ms at 32 connections (\`chat32r/proxy\`, sinks off, ${rate.toLocaleString('en-US')} req/s offered)`;
    const a = get(rs, 'chat32r/proxy', 'load');
    const d = get(rs, 'chat32r/direct', 'load');
    if (!valid(a) || !valid(d)) out.push(notRun(t, ['chat32r/proxy', 'chat32r/direct']));
    else {
      const added = a.latency.p99 - d.latency.p99;
      const bare = get(rs, 'chat32r/bare', 'load');
      out.push({
        target: t,
        measured: `${signed(added)} ms (p99 ${ms(a.latency.p99)} vs direct ${ms(d.latency.p99)} ms; p50 added ${signed(a.latency.p50 - d.latency.p50)} ms)`,
        pass: added <= TARGET_P99_ADDED_MS,
        why:
          added <= TARGET_P99_ADDED_MS
            ? ''
            : `the bare pass-through adds ${valid(bare) ? `${signed(bare.latency.p99 - d.latency.p99)} ms` : '–'} at p99 under the same load; ` +
              `server CPU per request ${cpuNote(a)} vs bare ${cpuNote(bare)}`,
      });
    }
  }
  for (const sc of ['stream1', 'stream'] as const) {
    for (const id of ['proxy', 'proxy-logging'] as const) {
      const a = get(rs, `${sc}/${id}`, 'stream');
      const d = get(rs, `${sc}/direct`, 'stream');
      const t = `added time to first byte ≤ ${TARGET_TTFB_ADDED_MS} ms p50 (\`${sc}/${id}\`, ${sc === 'stream1' ? '1 stream at a time' : `${a?.connections ?? '–'} concurrent streams`})`;
      if (!valid(a) || !valid(d)) {
        out.push(notRun(t, [`${sc}/${id}`, `${sc}/direct`]));
        continue;
      }
      const added = a.ttfb.p50 - d.ttfb.p50;
      const bare = get(rs, `${sc}/bare`, 'stream');
      out.push({
        target: t,
        measured: `${signed(added)} ms (p50 ${ms(a.ttfb.p50)} vs direct ${ms(d.ttfb.p50)} ms; p99 added ${signed(a.ttfb.p99 - d.ttfb.p99)} ms)`,
        pass: added <= TARGET_TTFB_ADDED_MS,
        why:
          added <= TARGET_TTFB_ADDED_MS
            ? ''
            : `the bare pass-through adds ${valid(bare) ? `${signed(bare.ttfb.p50 - d.ttfb.p50)} ms` : '–'} at p50 under the same load; ` +
              `server CPU per stream ${cpuNote(a)} vs bare ${cpuNote(bare)}`,
      });
    }
  }
  for (const id of ['proxy', 'proxy-logging'] as const) {
    const t = `≤ ${TARGET_STREAM_KIB} KB memory per open stream (\`${id}\`)`;
    const a = get(rs, `hold/${id}`, 'hold');
    if (!valid(a)) out.push(notRun(t, [`hold/${id}`]));
    else {
      const per = perStreamKiB(a);
      const allFlowing = a.flowing >= a.streams;
      const pass = per !== null && per <= TARGET_STREAM_KIB && allFlowing;
      const whys: string[] = [];
      if (!allFlowing) {
        whys.push(
          `only ${a.flowing} of ${a.streams} streams got their first event: the rest were queued in the proxy, not open upstream ` +
            `(undici Pool of 256 sockets per upstream origin), so the figure is not yet the cost of ${a.streams} open streams`,
        );
      }
      if (per !== null && per > TARGET_STREAM_KIB) whys.push(`${per.toFixed(0)} KiB per stream`);
      const h250 = get(rs, `hold250/${id}`, 'hold');
      const per250 = valid(h250) ? perStreamKiB(h250) : null;
      if (whys.length && per250 !== null && h250 !== undefined) {
        whys.push(`with ${h250.streams} streams (${h250.flowing} flowing, all open end to end): ${per250.toFixed(1)} KiB per stream`);
      }
      out.push({
        target: t,
        measured: `${per === null ? '–' : per.toFixed(1)} KiB/stream (${mib(a.baselineKiB)} → ${mib(a.openKiB)} MiB for ${a.streams} streams, ${a.flowing} flowing)`,
        pass,
        why: whys.join('; '),
      });
    }
  }
  {
    const t = 'zero errors (every yaLLMproxy row, all rounds)';
    const ours = [...rs.values()].filter((r) => r.row.contender.kind === 'proxy');
    const bad = ours.filter((r) => r.errors > 0);
    const others = [...rs.values()].filter((r) => r.row.contender.kind !== 'proxy' && r.errors > 0);
    const otherText = others.length ? `; other contenders: ${others.map((r) => `\`${r.row.id}\` ${r.errors} (${r.errorText})`).join(', ')}` : '';
    if (ours.length === 0) out.push({ target: t, measured: 'not measured', pass: null, why: 'no yaLLMproxy row was run' });
    else
      out.push({
        target: t,
        measured: `${bad.reduce((n, r) => n + r.errors, 0)} errors over ${ours.length} rows${otherText}`,
        pass: bad.length === 0 && ours.every((r) => r.problems.length === 0),
        why: [...bad.map((r) => `\`${r.row.id}\`: ${r.errorText}`), ...ours.filter((r) => r.errors === 0 && r.problems.length).map((r) => `\`${r.row.id}\` invalid: ${r.problems.join('; ')}`)].join('; '),
      });
  }
  return out;
}

function verdictTable(v: readonly Verdict[]): string {
  return mdTable(
    ['Target', 'Measured', 'Result', 'Why missed'],
    v.map((x) => [x.target, x.measured, x.pass === null ? 'not measured' : x.pass ? '**PASS**' : '**MISS**', x.why || '–']),
  );
}

/** One-connection rows: added latency of the hop itself. */
function hopLine(rs: Results): string | null {
  const d = get(rs, 'chat1/direct', 'load');
  const b = get(rs, 'chat1/bare', 'load');
  const p = get(rs, 'chat1/proxy', 'load');
  if (!valid(d) || !valid(p)) return null;
  const vsBare = valid(b) ? `; vs bare p50 ${signed(p.latency.p50 - b.latency.p50)} ms, p99 ${signed(p.latency.p99 - b.latency.p99)} ms` : '';
  return `Added latency of the hop at 1 connection (\`chat1/proxy\`): p50 ${signed(p.latency.p50 - d.latency.p50)} ms, p99 ${signed(p.latency.p99 - d.latency.p99)} ms vs direct${vsBare}.`;
}

/** Saturated 32-connection rows: why their latency difference is not the hop's latency. */
function saturationLine(rs: Results): string | null {
  const d = get(rs, 'chat32/direct', 'load');
  const p = get(rs, 'chat32/proxy', 'load');
  if (!valid(d) || !valid(p)) return null;
  return (
    `At saturation (closed loop, every connection always busy) latency ≈ connections ÷ req/s, so \`chat32/proxy\` − \`chat32/direct\` ` +
    `(p50 ${signed(p.latency.p50 - d.latency.p50)} ms, p99 ${signed(p.latency.p99 - d.latency.p99)} ms) restates the throughput gap; ` +
    `\`chat32r\` below measures the latency the hop adds at the same 32 connections when requests do not queue for CPU.`
  );
}

/** Every scenario that has rows, as markdown blocks (used for stdout too). */
export function tables(results: readonly RowResult[]): string {
  const rs: Results = new Map(results.map((r) => [r.row.id, r]));
  const blocks: string[] = [];
  const heading: Record<string, string> = {
    chat: '### 1. Non-streaming chat completions',
    stream: '### 2. Streaming: time to first byte and inter-event delay',
    hold: '### 3. Slow streams held open: resident memory',
    large: '### 4. Large bodies (200 KB prompts)',
  };
  let lastGroup = '';
  for (const s of SCENARIOS) {
    const rows = results.filter((r) => r.row.scenario.id === s.id);
    if (rows.length === 0) continue;
    if (s.group !== lastGroup) {
      blocks.push(heading[s.group] ?? `### ${s.group}`);
      lastGroup = s.group;
    }
    const title = `**${s.title}** (\`${s.id}\`)`;
    if (s.kind === 'load') blocks.push(`${title}\n\n${loadTable(rs, rows as LoadRow[])}`);
    else if (s.kind === 'stream') blocks.push(`${title}\n\n${streamTable(rs, rows as StreamRow[])}`);
    else blocks.push(`${title}\n\n${holdTable(rows as HoldRow[])}`);
    if (s.id === 'chat32') {
      const sat = saturationLine(rs);
      if (sat) blocks.push(sat);
    }
    if (s.id === 'chat1') {
      const hop = hopLine(rs);
      if (hop) blocks.push(hop);
    }
  }
  return blocks.join('\n\n');
}

export function targetsTable(results: readonly RowResult[]): string {
  return verdictTable(verdicts(new Map(results.map((r) => [r.row.id, r]))));
}

export interface RunMeta {
  date: string;
  cpuModel: string;
  cpuCount: number;
  memGiB: number;
  os: string;
  node: string;
  command: string;
  warmupS: number;
  durationS: number;
  rounds: number;
  /** 1-minute load averages: before, after, and the range seen at row starts. */
  loadBefore: number;
  loadAfter: number;
  loadMin: number;
  loadMax: number;
  peer: string;
  postgres: string;
  largeBodyBytes: number;
  smallBodyBytes: number;
  streamConcurrency: number;
  holdStreams: number;
  holdWaitS: number;
}

export const SECTION_START = '<!-- bench:proxy:start -->';
export const SECTION_END = '<!-- bench:proxy:end -->';

export function section(meta: RunMeta, results: readonly RowResult[]): string {
  return [
    SECTION_START,
    '## Proxy benchmark: yaLLMproxy vs a bare pass-through vs the Portkey gateway',
    '',
    '_Written by `npm run bench` (`scripts/bench.ts`); everything between the `bench:proxy` markers is replaced on each run._',
    '',
    `- Date: ${meta.date}`,
    `- Command: \`${meta.command}\``,
    `- Machine: ${meta.cpuModel} × ${meta.cpuCount} logical CPUs, ${meta.memGiB.toFixed(1)} GiB RAM, ${meta.os}`,
    `- Load: 1-min load average ${meta.loadBefore.toFixed(2)} before the run, ${meta.loadAfter.toFixed(2)} after, ` +
      `${meta.loadMin.toFixed(2)}–${meta.loadMax.toFixed(2)} at row starts (the benchmark itself keeps about 3 processes busy; ` +
      'other work on the machine skews every row)',
    `- Node ${meta.node}; peer: ${meta.peer}; PostgreSQL: ${meta.postgres}`,
    `- Parameters: ${meta.warmupS} s warm-up + ${meta.durationS} s measured per row` +
      `${meta.rounds > 1 ? ` and round (${meta.rounds} rounds, interleaved; median round shown${meta.rounds % 2 === 0 ? ', of an even number the lower of the middle two' : ''}, range in brackets)` : ''}; ` +
      `${meta.smallBodyBytes}-byte chat request, ${Math.round(meta.largeBodyBytes / 1024)} KiB large request; ` +
      `${meta.streamConcurrency} concurrent streams in scenario 2; ${meta.holdStreams} streams held in scenario 3 ` +
      `(up to ${meta.holdWaitS} s to start)`,
    '',
    '### Targets',
    '',
    targetsTable(results),
    '',
    tables(results),
    '',
    '### Method',
    '',
    '- One run, one machine, one fake upstream (`scripts/bench/upstream.ts`: `test/helpers/fake-upstream.ts` in its own ' +
      'process, requests not recorded). Every row starts a fresh server under test in its own process and stops it after; ' +
      'the load generators (autocannon for scenarios 1 and 4, `scripts/bench/streams.ts` on undici for 2 and 3) run in the ' +
      'benchmark process. On a 2-core machine the three processes compete for the cores, the same way for every row.',
    '- Contenders: **direct** = client → fake upstream (the physical limit); **bare** = a minimal Hono + @hono/node-server + ' +
      'undici Pool pass-through (`scripts/bench/bare-passthrough.ts`: no parsing, validation, routing or logging; the stack\'s ' +
      'limit); **yaLLMproxy** (`startProxy`, `scripts/bench/proxy-server.ts`) with sinks off, with the default sinks (request ' +
      'files + SQLite, in a temp dir) and with files + PostgreSQL (database `yallmp_bench_proxy`, dropped and created empty ' +
      'before each such row); **peer** = the Portkey AI gateway from npm (`node build/start-server.js --headless`, installed ' +
      'on demand into `.bench/peer/`, routed with `x-portkey-provider: openai` and `x-portkey-custom-host: <fake upstream>/v1`). ' +
      'Its `@hono/node-server` is pinned to 1.13.5 (npm `overrides`): with the 1.19.x its `^1.3.3` range resolves to, every ' +
      'streaming chat completion on Node fails with `TypeError: immutable` (Portkey-AI/gateway#1389, #1550).',
    '- Each row: one request (or stream) is checked first, then a warm-up (discarded), then the measured run. The warm-up ' +
      'defaults to 8 s: sampled every 2 s, a default-logging proxy keeps V8\'s helper threads busy optimising (TurboFan, ' +
      'three isolates: main, files, SQLite) for about 8 s after its first request, up to half a core on 2 cores, where a ' +
      'sinks-off proxy settles in 2-3 s; a shorter warm-up charges that one-off work to the logging rows. Closed loop: ' +
      'every connection sends its next request when the previous one is answered, so at saturation mean latency ≈ ' +
      'connections ÷ req/s. req/s = 2xx responses ÷ wall time; latency percentiles are exact nearest-rank over every response.',
    `- Paced row (\`chat32r\`): open loop instead, ${PACED_RATE.toLocaleString('en-US')} requests a second evenly spaced (the due ones sent on ` +
      'each ~1 ms tick) over an undici pool of 32 keep-alive connections, each timed from sending to its last body byte (a ' +
      'request waiting for a free connection waits inside its time). Below saturation nothing queues for CPU, so contender − ' +
      'direct at a percentile is the latency the hop adds; that is the row issue 2\'s "p99 added latency ≤ 2 ms at 32 ' +
      'connections" is judged on. autocannon\'s `overallRate` is not used: it spends each second\'s budget in one burst.',
    '- Streaming (2): the fake upstream sends 50 SSE events, the first at once and then one every 10 ms. The client stamps ' +
      'the first body byte (TTFB, from the request being sent) and the completion of each event (`\\n\\n`, so a proxy that ' +
      'splits or merges writes is measured as the client sees it); gap = time between consecutive events of a stream; ' +
      '"added" = contender − direct at the same percentile. A stream is an error unless it is 200 with all 50 events ending in `[DONE]`.',
    '- Held streams (3): a warm-up of 100 held streams first, then the baseline = median of 5 VmRSS readings of the server ' +
      'process (`/proc/<pid>/status`); then N streams are opened (bursts of 100 every 20 ms) against an upstream that sends ' +
      'one event a second, the benchmark waits until all have received their first event (or the wait ends), and reads VmRSS ' +
      'again ("open"); per stream = (open − baseline) ÷ N. "After close" is read 2 s after every stream was aborted.',
    '- Memory in 1, 2 and 4: VmRSS of the server process after its first request ("idle") and the peak sampled every 200 ms ' +
      'during the measured run. CPU µs/req = the server process\'s user + system CPU time (`/proc/<pid>/stat`, all threads, ' +
      '10 ms ticks) during the measured run ÷ 2xx responses — for the peer and for ours the same way.',
    `- Node flags: the proxy, the bare pass-through and the fake upstream all run with \`${SERVER_NODE_FLAGS.join(' ')}\`, ` +
      'the flags `npm start` gives the proxy (a 64 MB young generation: what lives for a batch interval dies young instead of ' +
      'being promoted). The peer runs as its package starts it.',
    '- Request-log files (the logging rows) go to a directory under the system temp dir that is deleted once, at the end of ' +
      'the run. Deleting a row\'s ~100,000 files right after it made the next rows\' file creation several times dearer in the ' +
      'kernel for minutes (ext4 without a journal, as on this VM, steps over each inode freed in the last 1-6 minutes when it ' +
      'allocates one: `find_inode_bit` / `recently_deleted` in fs/ext4/ialloc.c; a journalled ext4 skips that check); measured here, a `.json` + `.log` pair costs about 33 µs of system time on a quiet file system and ' +
      '160-1,000 µs right after a mass delete. So wait a few minutes after deleting many files (an earlier run\'s included) ' +
      'before measuring the logging rows.',
    '- A row is **INVALID** (struck-through figure, no ratios, its targets fail) when any request errored, timed out, answered ' +
      'non-2xx or with an unexpected body, or when the server died.',
    '',
    '### How to reproduce',
    '',
    '```sh',
    'npm run bench                                        # everything (installs the peer into .bench/peer/ on first use)',
    'npm run bench -- --quick                             # 1 s warm-up + 3 s per row, 200 held streams',
    'npm run bench -- --rounds 3                          # interleaved repeats, median shown: use on a busy machine',
    'npm run bench -- --scenarios chat,stream             # a subset of the scenarios: chat, stream, hold, large',
    'npm run bench -- --contenders direct,bare,proxy,peer # a subset of the contenders',
    'npm run bench -- --rows chat32/proxy,stream          # single rows (scenario/contender) or whole scenarios',
    'npm run bench -- --pg-url postgres://postgres@127.0.0.1:5432   # the server for the files + PostgreSQL rows',
    'npm run bench -- --no-write                          # print only, leave this file alone',
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
