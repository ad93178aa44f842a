/**
 * What one benchmark run measures: the contenders (servers under test), the scenarios (kinds of
 * load) and the rows (scenario × contender) in run order. Adding a contender or a scenario is
 * one more entry here; `bench.ts` and `report.ts` work from these lists.
 */
import { SLOW_PREFIX, STREAM_PREFIX, UPSTREAM_PREFIX, type SinkMode } from './protocol.ts';

export type ContenderId = 'direct' | 'bare' | 'proxy' | 'proxy-logging' | 'proxy-pg' | 'peer';

export interface Contender {
  id: ContenderId;
  label: string;
  kind: 'direct' | 'bare' | 'proxy' | 'peer';
  /** Proxy contenders: the sinks its child runs with. */
  sink?: SinkMode;
}

export const CONTENDERS: readonly Contender[] = [
  { id: 'direct', label: 'direct → fake upstream', kind: 'direct' },
  { id: 'bare', label: 'bare Hono + undici pass-through', kind: 'bare' },
  { id: 'proxy', label: 'yaLLMproxy, sinks off', kind: 'proxy', sink: 'none' },
  { id: 'proxy-logging', label: 'yaLLMproxy, default logging (files + SQLite)', kind: 'proxy', sink: 'default' },
  { id: 'proxy-pg', label: 'yaLLMproxy, files + PostgreSQL', kind: 'proxy', sink: 'postgres' },
  { id: 'peer', label: 'Portkey AI gateway (peer)', kind: 'peer' },
];

export const CONTENDER_IDS = CONTENDERS.map((c) => c.id);

export function contender(id: ContenderId): Contender {
  const c = CONTENDERS.find((x) => x.id === id);
  if (c === undefined) throw new Error(`unknown contender ${id}`);
  return c;
}

/** `--scenarios` groups, in the numbering. */
export const GROUPS = ['chat', 'stream', 'hold', 'large'] as const;
export type Group = (typeof GROUPS)[number];

export interface Scenario {
  id: string;
  group: Group;
  title: string;
  /** load: autocannon; stream: the SSE client, closed loop; hold: SSE streams held open. */
  kind: 'load' | 'stream' | 'hold';
  /** Fake-upstream prefix the contenders are pointed at. */
  prefix: string;
  /** Request body: `small` chat request, `large` (~200 KB prompt), `stream` (`"stream": true`). */
  body: 'small' | 'large' | 'stream';
  /** Concurrent connections (load, stream) or streams held open (hold); null: from options. */
  connections: number | null;
  /** load only: requests per second offered, evenly spaced (open loop); absent: closed loop, full speed. */
  rate?: number;
  contenders: readonly ContenderId[];
}

const ALL = CONTENDER_IDS;

/**
 * Offered load of the paced row: about a third of what the proxy serves at saturation with sinks
 * off and two thirds with default logging on the 2-core machine, and far above what one proxy
 * of LLM calls sees (each call holds its connection for seconds).
 */
export const PACED_RATE = 2_000;

export const SCENARIOS: readonly Scenario[] = [
  { id: 'chat32', group: 'chat', title: 'non-streaming, 32 connections', kind: 'load', prefix: UPSTREAM_PREFIX, body: 'small', connections: 32, contenders: ALL },
  // The same 32 connections below saturation: what the hop adds to a request when nothing queues
  // for CPU. At saturation (chat32) a closed loop's latency is connections ÷ req/s, so the p99
  // difference there is a second throughput figure, not the latency of the hop.
  { id: 'chat32r', group: 'chat', title: `non-streaming, 32 connections, ${PACED_RATE.toLocaleString('en-US')} req/s offered (below saturation)`, kind: 'load', prefix: UPSTREAM_PREFIX, body: 'small', connections: 32, rate: PACED_RATE, contenders: ['direct', 'bare', 'proxy', 'proxy-logging'] },
  { id: 'chat256', group: 'chat', title: 'non-streaming, 256 connections', kind: 'load', prefix: UPSTREAM_PREFIX, body: 'small', connections: 256, contenders: ALL },
  // One connection: nothing queues, so row − direct is the latency of the extra hop itself.
  { id: 'chat1', group: 'chat', title: 'non-streaming, 1 connection', kind: 'load', prefix: UPSTREAM_PREFIX, body: 'small', connections: 1, contenders: ['direct', 'bare', 'proxy'] },
  // One stream at a time: the TTFB the hop itself adds, without queueing behind other streams.
  { id: 'stream1', group: 'stream', title: 'streaming, 50 events 10 ms apart, 1 stream at a time', kind: 'stream', prefix: STREAM_PREFIX, body: 'stream', connections: 1, contenders: ['direct', 'bare', 'proxy', 'proxy-logging', 'peer'] },
  { id: 'stream', group: 'stream', title: 'streaming, 50 events 10 ms apart, concurrent streams', kind: 'stream', prefix: STREAM_PREFIX, body: 'stream', connections: null, contenders: ALL },
  // 250: below the 256 upstream sockets per origin that yaLLMproxy and the bare pass-through
  // open, so every stream is open end to end and (open − baseline) ÷ 250 is the cost of one.
  { id: 'hold250', group: 'hold', title: '250 slow streams held open', kind: 'hold', prefix: SLOW_PREFIX, body: 'stream', connections: 250, contenders: ['bare', 'proxy', 'proxy-logging', 'peer'] },
  { id: 'hold', group: 'hold', title: 'slow streams held open (`--hold-streams`, default 1,000)', kind: 'hold', prefix: SLOW_PREFIX, body: 'stream', connections: null, contenders: ['bare', 'proxy', 'proxy-logging', 'peer'] },
  { id: 'large', group: 'large', title: '200 KB prompts, 32 connections', kind: 'load', prefix: UPSTREAM_PREFIX, body: 'large', connections: 32, contenders: ALL },
];

export interface Row {
  /** `<scenario>/<contender>`, used by `--rows`. */
  id: string;
  scenario: Scenario;
  contender: Contender;
}

export function allRows(): Row[] {
  return SCENARIOS.flatMap((s) => s.contenders.map((c) => ({ id: `${s.id}/${c}`, scenario: s, contender: contender(c) })));
}

export interface Selection {
  groups: readonly Group[];
  contenders: readonly ContenderId[];
  /** Explicit row ids (or scenario ids, meaning all their rows); null = everything selected above. */
  rows: readonly string[] | null;
}

export function selectRows(sel: Selection): Row[] {
  return allRows().filter(
    (r) =>
      sel.groups.includes(r.scenario.group) &&
      sel.contenders.includes(r.contender.id) &&
      (sel.rows === null || sel.rows.includes(r.id) || sel.rows.includes(r.scenario.id)),
  );
}
