import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { createApp, type Logger } from './app.ts';
import type { ProxyConfig } from './config/types.ts';
import { RealtimeCounters } from './logging/counters.ts';
import { createHeaderSanitizer } from './logging/sanitize.ts';
import type { RequestSink } from './logging/types.ts';
import { UpstreamPools } from './upstream/pools.ts';

export interface ProxyServer {
  url: string;
  port: number;
  counters: RealtimeCounters;
  /** Stops accepting, lets in-flight requests finish within `graceMs`, then frees upstream sockets. */
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  config: ProxyConfig;
  sink: RequestSink;
  log: Logger;
  host?: string;
  port?: number;
}

/** Builds the app with its collaborators and serves it; used by main, the demo, benchmarks and tests. */
export async function startProxy(opts: StartOptions): Promise<ProxyServer> {
  const config = opts.config;
  const counters = new RealtimeCounters();
  const pools = new UpstreamPools({ connectTimeoutMs: config.timeouts.connectMs });
  const app = createApp({
    getConfig: () => config,
    sink: opts.sink,
    counters,
    pools,
    sanitize: createHeaderSanitizer(config.logging.redactHeaders),
    log: opts.log,
    startedAt: Math.floor(Date.now() / 1000),
  });
  const host = opts.host ?? config.server.host;
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: opts.port ?? config.server.port }, () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    counters,
    close: async (graceMs = 10_000) => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      const timer = setTimeout(() => (server as { closeAllConnections?: () => void }).closeAllConnections?.(), graceMs);
      await closed;
      clearTimeout(timer);
      await pools.close();
    },
  };
}
