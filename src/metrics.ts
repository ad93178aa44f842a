import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestRecord, RequestSink } from './logging/types.ts';

/** Live numbers owned by the sinks; read when /metrics is scraped. */
export interface SinkStatsSource {
  files?: { queued: number; dropped: number; failed: number; written: number } | null;
  db?: { queued: number; spooled: number; dropped: number; writeErrors: number; written: number } | null;
}

export interface Metrics {
  registry: Registry;
  /** A sink: every finished request updates the counters and histograms. */
  sink: RequestSink;
  render(): Promise<string>;
  contentType: string;
  stop(): void;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1];

/** The `model` label of a request that was never routed (validation error, unknown model). */
export const UNROUTED_MODEL_LABEL = '(unrouted)';

/**
 * The model as a label value only when it was routed, i.e. is a configured model: the name comes
 * from the client, and every distinct label value is a new time series kept for the life of the
 * process (a client sending random or 100 KB model names would grow memory without bound).
 */
function modelLabel(r: RequestRecord): string {
  return r.route.length > 0 ? r.model : UNROUTED_MODEL_LABEL;
}

/** Prometheus metrics (prom-client), one registry per app so tests can build many. */
export function createMetrics(stats: () => SinkStatsSource): Metrics {
  const registry = new Registry();
  const requests = new Counter({
    name: 'yallmp_requests_total',
    help: 'Finished /v1 requests by model, outcome and status sent to the client',
    labelNames: ['model', 'outcome', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'yallmp_request_duration_seconds',
    help: 'Whole request duration as the proxy saw it',
    labelNames: ['model'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const upstream = new Histogram({
    name: 'yallmp_upstream_duration_seconds',
    help: 'Duration of each upstream attempt',
    labelNames: ['backend', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const ttfb = new Histogram({
    name: 'yallmp_time_to_first_byte_seconds',
    help: 'Request start to the first response byte handed to the client',
    labelNames: ['model', 'stream'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const overhead = new Histogram({
    name: 'yallmp_proxy_overhead_seconds',
    help: 'Single-attempt requests: time to first byte to the client minus the upstream time to headers',
    labelNames: ['stream'] as const,
    buckets: OVERHEAD_BUCKETS,
    registers: [registry],
  });

  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const gauge = (name: string, help: string, read: () => number | undefined) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read() ?? 0);
      },
    });
  gauge('yallmp_log_queue_depth', 'Records waiting for the file and database writers', () => (stats().files?.queued ?? 0) + (stats().db?.queued ?? 0));
  gauge('yallmp_log_spooled_rows_total', 'Rows written to the spool because the database was down or the queue full', () => stats().db?.spooled);
  gauge('yallmp_log_dropped_total', 'Records that could not be kept anywhere', () => (stats().files?.dropped ?? 0) + (stats().db?.dropped ?? 0));
  gauge('yallmp_db_write_errors_total', 'Failed database batch writes', () => stats().db?.writeErrors);
  gauge('yallmp_db_rows_written_total', 'Rows committed to request_logs', () => stats().db?.written);
  gauge('yallmp_log_file_failures_total', 'Request log files that failed to write', () => stats().files?.failed);
  gauge('yallmp_event_loop_delay_p99_seconds', 'Event-loop delay p99 since the last scrape', () => {
    const v = loop.percentile(99) / 1e9;
    loop.reset();
    return v;
  });

  const sink: RequestSink = {
    publish(r: RequestRecord) {
      const model = modelLabel(r);
      requests.inc({ model, outcome: r.outcome, status: String(r.statusCode) });
      duration.observe({ model }, r.durationMs / 1000);
      for (const a of r.attempts) upstream.observe({ backend: a.backend, status: String(a.status ?? 0) }, a.durationMs / 1000);
      if (r.ttfbMs !== null) {
        ttfb.observe({ model, stream: String(r.isStream) }, r.ttfbMs / 1000);
        // Only single-attempt requests: with retries, backoff sleeps would count as overhead.
        const only = r.attempts.length === 1 ? r.attempts[0] : undefined;
        if (only && only.ttfbMs !== null && only.backend === r.backendName) {
          overhead.observe({ stream: String(r.isStream) }, Math.max(0, r.ttfbMs - only.ttfbMs) / 1000);
        }
      }
    },
  };
  return {
    registry,
    sink,
    render: () => registry.metrics(),
    contentType: registry.contentType,
    stop: () => loop.disable(),
  };
}
