/**
 * What the benchmark parent and its children agree on. Kept apart from the child entry points
 * because importing one of those would start its server in the importing process.
 */

/**
 * `--sink` values of `proxy-server.ts`: `none` = no sink; `default` = `createSinks` with the
 * default settings (files + SQLite); `postgres` = files + PostgreSQL (needs `--pg-url`).
 */
export const SINK_MODES = ['none', 'default', 'postgres'] as const;
export type SinkMode = (typeof SINK_MODES)[number];

export function isSinkMode(s: string): s is SinkMode {
  return (SINK_MODES as readonly string[]).includes(s);
}

/** The one model the benchmark proxy serves. */
export const BENCH_MODEL = 'bench-model';

/**
 * Fake-upstream prefixes (`${origin}/<prefix>/v1/...`), one per upstream behaviour; a server
 * under test is pointed at the prefix its scenario needs.
 *  - `bench`: the fake upstream's `ok` (JSON completion, or a short SSE stream);
 *  - `stream50`: SSE, `STREAM_EVENTS` events `STREAM_GAP_MS` apart;
 *  - `slow`: SSE, one event every `SLOW_GAP_MS` for `SLOW_EVENTS` events (held-open streams).
 */
export const UPSTREAM_PREFIX = 'bench';
export const STREAM_PREFIX = 'stream50';
export const SLOW_PREFIX = 'slow';

export const STREAM_EVENTS = 50;
export const STREAM_GAP_MS = 10;
export const SLOW_EVENTS = 600;
export const SLOW_GAP_MS = 1000;

/** The line (see `child.ts`) a child prints once it accepts connections. */
export const LISTENING_LINE = /^(.+?) listening on (https?:\/\/\S+)\s*$/;

/** IPC message asking a child for its CPU time (answer: `{ cpuMicros: number }`). */
export const CPU_QUERY = 'bench:cpu?';
