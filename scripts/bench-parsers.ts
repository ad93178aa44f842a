/**
 * Response parser benchmark (not a test): CPU per streamed chunk with the parsers against plain
 * pass-through. Prints a table and rewrites the `bench:parsers` section at the end of
 * docs/benchmarks.md.
 *
 *   npm run bench:parsers -- [--rounds 5] [--streams 300] [--requests 100] [--warmup 300] [--no-write]
 *
 * 1. In process: recorded-style streams (about 290 SSE events of ~200 bytes, one per chunk) fed
 *    chunk by chunk to (a) a plain byte copy, (b) the SSE tap the relay runs when records are kept,
 *    (c) the parser transformer, (d) transformer + tap. CPU from process.cpuUsage(), median round.
 * 2. End to end: two proxy processes, each serving with sinks off (like the `proxy-stream` row of
 *    the proxy section) and keeping records through a sink that drops them (the default way: the
 *    SSE tap runs); the fake upstream and the client in a third process. The same stream through
 *    a model with parsers (one proxy) and one without (the other), at the same time; each proxy
 *    tells its own CPU.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { configFrom, model } from '../test/helpers/proxy.ts';
import { parsersFrom } from '../test/fixtures/parsers/corpus.ts';
import { nullSink } from '../src/logging/fanout.ts';
import type { RequestSink } from '../src/logging/types.ts';
import { createParserStream } from '../src/parsers/config.ts';
import { createSseTap } from '../src/sse/tap.ts';
import { startProxy } from '../src/server.ts';
import { ownNodeFlagsNote } from './bench/processes.ts';

const DOC = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));
const START = '<!-- bench:parsers:start -->';
const END = '<!-- bench:parsers:end -->';
const encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Streams

function events(deltas: object[]): string[] {
  const env = { id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1767225600, model: 'glm-4.6', system_fingerprint: 'fp_b' };
  const ev = (choices: object[], usage: object | null = null) => `data: ${JSON.stringify({ ...env, choices, usage })}\n\n`;
  return [
    ev([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
    ...deltas.map((delta) => ev([{ index: 0, delta, finish_reason: null }])),
    ev([{ index: 0, delta: {}, finish_reason: 'stop' }]),
    ev([], { prompt_tokens: 40, completion_tokens: 290, total_tokens: 330 }),
    'data: [DONE]\n\n',
  ];
}

const words = (n: number, w: string) => Array.from({ length: n }, (_, i) => ` ${w}${i}`);

/** GLM-style raw tags: thinking, an answer, a tool call cut across chunks. */
const TAGGED = events([
  { content: '<think>' },
  ...words(120, 'thought').map((content) => ({ content })),
  { content: '</think>' },
  { content: '\n\n' },
  ...words(150, 'answer').map((content) => ({ content })),
  ...['<tool_', 'call>get_weather\n<arg_key>', 'city</arg_key>\n<arg', '_value>Berlin</arg_value>\n</tool_call>'].map((content) => ({ content })),
]);
/** No tags at all: what a parsed model sends when it answers plainly (the fast path). */
const PLAIN = events(words(285, 'answer').map((content) => ({ content })));
/** Structured reasoning, swapped into the content. */
const NATIVE = events([
  ...words(120, 'thought').map((reasoning_content) => ({ reasoning_content })),
  ...words(165, 'answer').map((content) => ({ content })),
]);

const PARSE = parsersFrom({ response: ['parse_unparsed'] });
const SWAP = parsersFrom({ response: ['swap_reasoning_content'] });

// ---------------------------------------------------------------------------------------------
// In process

interface Variant {
  name: string;
  chunks: Uint8Array[];
  run(chunks: readonly Uint8Array[]): number;
}

function copy(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += Buffer.from(c).byteLength;
  return n;
}

function tap(chunks: readonly Uint8Array[]): number {
  const t = createSseTap({ maxChunks: 2000, maxChunkBytes: 1 << 20 });
  for (const c of chunks) t.push(c);
  t.end();
  return t.state.events;
}

/** With the tap wired as the relay wires it: fed by the parser stream's SSE parse, capturing the raw chunks. */
function parsed(parsers: typeof PARSE, withTap: boolean) {
  return (chunks: readonly Uint8Array[]): number => {
    const t = withTap ? createSseTap({ maxChunks: 2000, maxChunkBytes: 1 << 20, sharedParser: true }) : null;
    const s = createParserStream(parsers, null, t?.feed ? { feed: t.feed, after: 0 } : undefined);
    let n = 0;
    for (const c of chunks) {
      t?.push(c);
      n += s.push(c)?.byteLength ?? 0;
    }
    t?.end();
    return n + (s.end()?.byteLength ?? 0);
  };
}

function cpuNsPerChunk(v: Variant, streams: number): number {
  v.run(v.chunks); // warm
  const start = process.cpuUsage();
  for (let i = 0; i < streams; i++) v.run(v.chunks);
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / (streams * v.chunks.length);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function inProcess(rounds: number, streams: number) {
  const bytes = (evs: string[]) => evs.map((e) => encoder.encode(e));
  const variants: Variant[] = [
    { name: 'tagged: plain byte copy', chunks: bytes(TAGGED), run: copy },
    { name: 'tagged: SSE tap (pass-through with records)', chunks: bytes(TAGGED), run: tap },
    { name: 'tagged: parse_unparsed', chunks: bytes(TAGGED), run: parsed(PARSE, false) },
    { name: 'tagged: parse_unparsed + tap (the tap fed by its SSE parse)', chunks: bytes(TAGGED), run: parsed(PARSE, true) },
    { name: 'no tags: parse_unparsed (skip path)', chunks: bytes(PLAIN), run: parsed(PARSE, false) },
    { name: 'reasoning_content: swap to content', chunks: bytes(NATIVE), run: parsed(SWAP, false) },
    { name: 'reasoning_content: SSE tap (pass-through with records)', chunks: bytes(NATIVE), run: tap },
    { name: 'reasoning_content: swap to content + tap', chunks: bytes(NATIVE), run: parsed(SWAP, true) },
  ];
  const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const v of r % 2 === 0 ? variants : [...variants].reverse()) samples.get(v.name)!.push(cpuNsPerChunk(v, streams));
  }
  return variants.map((v) => ({ name: v.name, chunks: v.chunks.length, ns: median(samples.get(v.name)!), all: samples.get(v.name)! }));
}

// ---------------------------------------------------------------------------------------------
// End to end. Two proxy processes, each serving both modes, and a load process (the fake upstream
// and the client). The two models of a pair are driven at the same time, one through each proxy
// (which proxy serves which alternates by round), and each proxy's own CPU is read: whatever else
// the shared machine does in that window weighs on both sides alike, so the per-round ratio is
// steadier than one of two runs made one after the other.

async function loadMain(): Promise<void> {
  const { startFakeUpstream } = await import('../test/helpers/fake-upstream.ts');
  const up = await startFakeUpstream({ record: false });
  // 1 ms apart, as tokens arrive: one event per socket read, the relay's real per-chunk work.
  up.script('tagged', [{ kind: 'stream', events: TAGGED, delayMs: 1 }]);
  up.script('native', [{ kind: 'stream', events: NATIVE, delayMs: 1 }]);
  process.stdout.write(`ORIGIN ${up.origin}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    // RUN <n> <concurrency> <url> <model> [<url> <model> …]: the targets at the same time.
    const [cmd, n, conc, ...targets] = line.split(' ');
    if (cmd !== 'RUN') break;
    let bad = 0;
    const drive = async (url: string, modelName: string) => {
      const body = JSON.stringify({ model: modelName, stream: true, messages: [{ role: 'user', content: 'hi' }] });
      let left = Number(n);
      const worker = async () => {
        while (left-- > 0) {
          const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          const text = await res.text();
          if (res.status !== 200 || !text.endsWith('data: [DONE]\n\n')) bad++;
        }
      };
      await Promise.all(Array.from({ length: Number(conc) }, worker));
    };
    const runs: Promise<void>[] = [];
    for (let i = 0; i + 1 < targets.length; i += 2) runs.push(drive(targets[i]!, targets[i + 1]!));
    await Promise.all(runs);
    process.stdout.write(`DONE ${bad}\n`);
  }
  await up.close();
}

/** The two ways the proxy is served: sinks off (no records: the relay skips the SSE tap), and records kept. */
const MODES = ['off', 'kept'] as const;
type Mode = (typeof MODES)[number];

/**
 * A sink that keeps records but does no I/O. The server keeps request details (and the relay runs
 * the SSE tap) for any sink other than `nullSink`, as with the default file / database sinks;
 * this one drops each finished record, so only the proxy's own work is measured.
 */
const droppingSink: RequestSink = { publish() {} };

/** A proxy process: both modes served, its CPU (user + system, all threads, µs) told on `CPU`. */
async function proxyMain(origin: string): Promise<void> {
  const config = configFrom({
    model_list: [
      model('tagged-parsed', `${origin}/tagged/v1`, {}, { parsers: { response: ['parse_unparsed'] } }),
      model('tagged-plain', `${origin}/tagged/v1`),
      model('tagged-plain-again', `${origin}/tagged/v1`),
      model('native-swapped', `${origin}/native/v1`, {}, { parsers: { response: ['swap_reasoning_content'] } }),
      model('native-plain', `${origin}/native/v1`),
    ],
    proxy_settings: { logging: { files: false } },
    database: { enabled: false },
  });
  const log = { info() {}, warn() {}, error() {} };
  const off = await startProxy({ config, sink: nullSink, log, host: '127.0.0.1', port: 0 });
  const kept = await startProxy({ config, sink: droppingSink, log, host: '127.0.0.1', port: 0 });
  process.stdout.write(`URLS ${off.url} ${kept.url}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line !== 'CPU') break;
    const used = process.cpuUsage();
    process.stdout.write(`CPU ${used.user + used.system}\n`);
  }
  await Promise.all([off.close(1000), kept.close(1000)]);
}

interface Child {
  send(line: string): void;
  next(): Promise<string>;
  end(): void;
}

function spawnSelf(args: readonly string[]): Child {
  const child: ChildProcess = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    send: (line) => child.stdin!.write(`${line}\n`),
    next: async () => String((await lines.next()).value ?? ''),
    end: () => child.stdin!.end(),
  };
}

interface E2eRow {
  key: string;
  usPerChunk: number;
  min: number;
  max: number;
  rounds: number[];
}

/** Pairs compared: with parsers against without, and the A/A control (the same model twice). */
const E2E_PAIRS = [
  ['tagged-parsed', 'tagged-plain'],
  ['native-swapped', 'native-plain'],
  ['tagged-plain-again', 'tagged-plain'],
] as const;

async function endToEnd(rounds: number, requests: number, warmup: number): Promise<Map<string, E2eRow>> {
  const load = spawnSelf(['--load']);
  const origin = (await load.next()).replace('ORIGIN ', '');
  const proxies = [spawnSelf(['--proxy', origin]), spawnSelf(['--proxy', origin])];
  const urls = await Promise.all(proxies.map(async (p) => (await p.next()).replace('URLS ', '').split(' ')));
  const cpu = async (i: number) => {
    proxies[i]!.send('CPU');
    return Number((await proxies[i]!.next()).replace('CPU ', ''));
  };
  const url = (i: number, mode: Mode) => urls[i]![MODES.indexOf(mode)]!;
  /** `first` through proxy 0 and `second` through proxy 1, at the same time: µs of CPU per request of each. */
  const run = async (mode: Mode, first: string, second: string, n: number) => {
    const before = [await cpu(0), await cpu(1)];
    load.send(`RUN ${n} 8 ${url(0, mode)} ${first} ${url(1, mode)} ${second}`);
    const done = await load.next();
    if (done !== 'DONE 0') throw new Error(`${mode} ${first} / ${second}: ${done}`);
    return [((await cpu(0)) - before[0]!) / n, ((await cpu(1)) - before[1]!) / n] as const;
  };
  const samples = new Map<string, number[]>();
  const add = (key: string, x: number) => (samples.get(key) ?? samples.set(key, []).get(key)!).push(x);
  // Warm-up: every model through both proxies in both modes, `warmup` requests each. A proxy runs
  // for days: the figure wanted is its steady state. Over its first few hundred requests the parsed
  // proxy's V8 helper threads (compiles, GC) were measured spending up to twice what the plain
  // one's do (per-thread CPU from /proc), and about the same after.
  for (const mode of MODES) for (const [a, b] of E2E_PAIRS) for (const [x, y] of [[a, b], [b, a]]) await run(mode, x!, y!, warmup);
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 === 0 ? MODES : [...MODES].reverse()) {
      for (const [a, b] of E2E_PAIRS) {
        const swap = r % 2 === 1;
        const [c0, c1] = await run(mode, swap ? b : a, swap ? a : b, requests);
        // The control's two sides are the same model: keep them apart under their own keys.
        add(`${mode}:${a}`, swap ? c1 : c0);
        add(`${mode}:${b}${a === 'tagged-plain-again' ? ':control' : ''}`, swap ? c0 : c1);
      }
    }
  }
  load.end();
  for (const p of proxies) p.end();
  const rows = new Map<string, E2eRow>();
  for (const [key, xs] of samples) {
    const events = key.includes(':tagged') ? TAGGED.length : NATIVE.length;
    rows.set(key, { key, usPerChunk: median(xs) / events, min: Math.min(...xs) / events, max: Math.max(...xs) / events, rounds: xs });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Report

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      streams: { type: 'string', default: '300' },
      requests: { type: 'string', default: '100' },
      warmup: { type: 'string', default: '300' },
      'no-write': { type: 'boolean', default: false },
      load: { type: 'boolean', default: false },
      proxy: { type: 'string' },
    },
  });
  if (values.load) return loadMain();
  if (values.proxy !== undefined) return proxyMain(values.proxy);
  const rounds = Number(values.rounds);
  const loadBefore = loadavg()[0]!;
  const micro = inProcess(rounds, Number(values.streams));
  const e2e = await endToEnd(rounds, Number(values.requests), Number(values.warmup));
  const loadAfter = loadavg()[0]!;

  const byName = new Map(micro.map((m) => [m.name, m.ns]));
  const copyNs = byName.get('tagged: plain byte copy')!;
  const tapNs = byName.get('tagged: SSE tap (pass-through with records)')!;
  const parseNs = byName.get('tagged: parse_unparsed')!;
  const row = (mode: Mode, m: string) => e2e.get(`${mode}:${m}`)!;
  // The A/A control's baseline: the tagged stream without parsers, measured beside `tagged-plain-again`.
  const CONTROL = 'tagged-plain:control';
  const cell = (mode: Mode, m: string) => {
    const x = row(mode, m);
    return `${x.usPerChunk.toFixed(2)} (${x.min.toFixed(1)}–${x.max.toFixed(1)})`;
  };
  const ratio = (mode: Mode, a: string, b: string) => (row(mode, a).usPerChunk / row(mode, b).usPerChunk - 1) * 100;
  const added = (mode: Mode, a: string, b: string) => `${ratio(mode, a, b).toFixed(1)} %`;
  // The two models of a pair run next to each other in every round, so their per-round ratio cancels
  // most of the load that other work puts on the shared machine; its median is the steadier figure.
  const pairedRatio = (mode: Mode, a: string, b: string) => {
    const xs = row(mode, a).rounds;
    const ys = row(mode, b).rounds;
    return (median(xs.map((x, r) => x / ys[r]!)) - 1) * 100;
  };
  const paired = (mode: Mode, a: string, b: string) => `${pairedRatio(mode, a, b).toFixed(1)} %`;
  const shareOf = (ns: number) => (ns / 1000 / row('off', 'tagged-plain').usPerChunk) * 100;
  const share = (ns: number) => `${shareOf(ns).toFixed(1)} %`;
  const PAIRS = [
    ['tagged-parsed', 'tagged-plain'],
    ['native-swapped', 'native-plain'],
  ] as const;
  const met = (f: (mode: Mode, a: string, b: string) => number, mode: Mode) => PAIRS.every(([a, b]) => f(mode, a, b) <= 10);
  const shareMet = shareOf(parseNs) <= 10;
  const LABEL: Record<Mode, string> = { off: 'sinks off', kept: 'records kept' };
  const tableRows = (mode: Mode) => [
    `| ${LABEL[mode]} | GLM-style tags, \`parse_unparsed\` (${TAGGED.length} events) | ${cell(mode, 'tagged-plain')} | ${cell(mode, 'tagged-parsed')} | ${added(mode, 'tagged-parsed', 'tagged-plain')} | ${paired(mode, 'tagged-parsed', 'tagged-plain')} |`,
    `| ${LABEL[mode]} | reasoning_content, \`swap_reasoning_content\` (${NATIVE.length} events) | ${cell(mode, 'native-plain')} | ${cell(mode, 'native-swapped')} | ${added(mode, 'native-swapped', 'native-plain')} | ${paired(mode, 'native-swapped', 'native-plain')} |`,
    `| ${LABEL[mode]} | A/A control: the tagged stream through a second model without parsers | ${cell(mode, CONTROL)} | ${cell(mode, 'tagged-plain-again')} | ${added(mode, 'tagged-plain-again', CONTROL)} | ${paired(mode, 'tagged-plain-again', CONTROL)} |`,
  ];
  const reading = (mode: Mode) =>
    `- ${mode === 'off' ? 'Sinks off (no records: neither side runs the SSE tap)' : 'Records kept (the default: the SSE tap runs on both sides; with parsers it takes its events from the parser stream)'}: parsing added ${added(mode, 'tagged-parsed', 'tagged-plain')} (\`parse_unparsed\`) and ${added(mode, 'native-swapped', 'native-plain')} (\`swap_reasoning_content\`) by the medians, ${met(ratio, mode) ? 'within' : 'beyond'} the target, against ${added(mode, 'tagged-plain-again', CONTROL)} for the A/A control (two identical configurations: the noise of one such figure on this shared machine). Paired by round: ${paired(mode, 'tagged-parsed', 'tagged-plain')} and ${paired(mode, 'native-swapped', 'native-plain')}, ${met(pairedRatio, mode) ? 'within' : 'beyond'} the target; A/A ${paired(mode, 'tagged-plain-again', CONTROL)}.`;

  const text = [
    START,
    '## Response parsers: CPU per streamed chunk',
    '',
    '_Written by `npm run bench:parsers`; everything between the `bench:parsers` markers is replaced on each run._',
    '',
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length} logical CPUs, ${platform()} ${release()} ${arch()}; Node ${process.version}; 1-min load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after (the machine is shared)`,
    `- Command: \`npm run bench:parsers -- --rounds ${rounds} --streams ${values.streams} --requests ${values.requests} --warmup ${values.warmup}\` (${ownNodeFlagsNote()})`,
    '',
    '### In process (one SSE event of ~200 bytes per chunk; median of the rounds)',
    '',
    '| variant | chunks per stream | CPU ns per chunk |',
    '|---|---:|---:|',
    ...micro.map((m) => `| ${m.name} | ${m.chunks} | ${m.ns.toFixed(0)} |`),
    '',
    `### End to end (two proxy processes driven at the same time, 8 concurrent streams each, events 1 ms apart; client and upstream in a third process; ${values.warmup} requests of every model through each process and mode first)`,
    '',
    'The two models of a pair run at the same time, one through each proxy process (which one alternates by round), and each process reads its own CPU: load from other work on the shared machine falls on both sides of a ratio alike. Two serving modes, each with its own servers in both processes: sinks off (`nullSink`: no request records, so the relay runs no SSE tap) and records kept (a sink that drops each finished record without I/O: the proxy keeps request details and runs the SSE tap, as with the default file / database sinks).',
    '',
    '| mode | stream | without parsers, µs CPU per chunk (range) | with parsers (range) | added (medians) | added (median of per-round ratios) |',
    '|---|---|---:|---:|---:|---:|',
    ...tableRows('off'),
    ...tableRows('kept'),
    '',
    `The transformer alone (in-process row) is ${share(parseNs)} of the proxy's end-to-end pass-through CPU per chunk (sinks off) for the tagged stream.`,
    '',
    '### Reading',
    '',
    '- Target: parsing adds ≤ 10 % CPU per streamed chunk compared with pass-through.',
    reading('off'),
    reading('kept'),
    `- The steadier estimate is the transformer's own cost: ${parseNs.toFixed(0)} ns per chunk, ${share(parseNs)} of the proxy's end-to-end pass-through CPU per chunk (${shareMet ? 'within' : 'beyond'} the 10 % target by this measure).`,
    `- Against a bare byte copy (${copyNs.toFixed(0)} ns) the transformer cannot be within 10 %: it reads every chunk (most of them by a byte compare against the last event's shape) and runs the events that may change through the stage (on their text for the tag events, else through JSON), where a copy does nothing. The SSE tap that every kept record already pays costs ${tapNs.toFixed(0)} ns.`,
    '- Events no parser can change (no `<`, no finish_reason, the choice past its leading whitespace) skip JSON, and a chunk of such events goes out as the same bytes without their text being built ("no tags" row); inside a think block (or an open reasoning tag) an event only has a key renamed on its text, and under `parse_unparsed` a tag event whose delta is only its content runs through the stage on its text (the delta replaced in place, the envelope kept). A chunk that is exactly one `data:` event (every chunk of these streams) takes the byte lane: its data is read as latin1 and it goes on as it came, or with the key renamed on its bytes, without the SSE parser; a chunk of one or more events with the head and tail bytes of the last lane chunk and a plain text between them reuses that verdict after a byte compare (event shapes), and other chunks of whole `data:` events skip the decode and line split of the SSE parser (docs/parsers.md). Models without an applicable parser keep the untouched zero-copy relay.',
    '- End-to-end CPU is the CPU of a proxy process (all its threads) per request divided by the number of SSE events; the upstream writes the events 1 ms apart, so most arrive as one socket read each, as tokens from a model do.',
    END,
  ].join('\n');
  process.stdout.write(`${text}\n`);
  if (!values['no-write']) writeSection(text);
}

function writeSection(text: string): void {
  const doc = readFileSync(DOC, 'utf8');
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  const next = start >= 0 && end > start ? doc.slice(0, start) + text + doc.slice(end + END.length) : `${doc.trimEnd()}\n\n${text}\n`;
  writeFileSync(DOC, next);
}

await main();
