/**
 * What the benchmark parent and its children agree on. Kept apart from the child entry points
 * because importing one of those would start its server in the importing process.
 */

/** `--sink` values of `proxy-server.ts`; a new logging configuration to benchmark is a new mode. */
export const SINK_MODES = ['none', 'default'] as const;
export type SinkMode = (typeof SINK_MODES)[number];

export function isSinkMode(s: string): s is SinkMode {
  return (SINK_MODES as readonly string[]).includes(s);
}

/** The one model the benchmark proxy serves. */
export const BENCH_MODEL = 'bench-model';

/** Fake-upstream prefix the bare pass-through and the proxy forward to. */
export const UPSTREAM_PREFIX = 'bench';

/** The line (see `child.ts`) a child prints once it accepts connections. */
export const LISTENING_LINE = /^(.+?) listening on (https?:\/\/\S+)\s*$/;

/** IPC message asking a child for its CPU time (answer: `{ cpuMicros: number }`). */
export const CPU_QUERY = 'bench:cpu?';
