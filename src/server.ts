import { serve, type ServerType } from '@hono/node-server';
import { STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createApp, type Logger } from './app.ts';
import { isLoopbackHost } from './auth/admin.ts';
import { NO_AUTH, type AuthSettings } from './auth/schema.ts';
import type { ConfigStore } from './config/store.ts';
import type { ProxyConfig } from './config/types.ts';
import { RealtimeCounters } from './logging/counters.ts';
import { createHeaderSanitizer, type HeaderSanitizer } from './logging/sanitize.ts';
import { nullSink } from './logging/fanout.ts';
import type { RequestSink } from './logging/types.ts';
import { UpstreamPools } from './upstream/pools.ts';
import type { Metrics } from './metrics.ts';
import type { UsageSource } from './routes/usage.ts';
import { ProxyError, toOpenAIError } from './openai/errors.ts';

export interface ProxyServer {
  url: string;
  port: number;
  counters: RealtimeCounters;
  /** Stops accepting, lets in-flight requests finish within `graceMs`, then frees upstream sockets. */
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  /**
   * The file-backed config: hot reload and the admin model/config API. Without it, `config` (and
   * `auth`) are served as they are and the admin API answers 404.
   */
  store?: ConfigStore;
  config?: ProxyConfig;
  auth?: AuthSettings;
  /** `YALLMP_ADMIN_TOKEN`; beats `proxy_settings.auth.admin_token`. */
  adminToken?: string | null;
  sink: RequestSink;
  log: Logger;
  /** Historical usage and logs are read from here (a getter when the database may appear later). */
  usage?: UsageSource | (() => UsageSource | null) | null;
  /** Serves /metrics when given. */
  metrics?: Metrics;
  host?: string;
  port?: number;
}

/** Builds the app with its collaborators and serves it; used by main, the demo, benchmarks and tests. */
export async function startProxy(opts: StartOptions): Promise<ProxyServer> {
  const { store } = opts;
  const fixed = opts.config;
  if (!store && !fixed) throw new TypeError('startProxy needs a config store or a config');
  const getConfig = store ? () => store.snapshot.config : () => fixed as ProxyConfig;
  const getAuth = store ? () => store.snapshot.auth : () => opts.auth ?? NO_AUTH;
  const config = getConfig();
  const counters = new RealtimeCounters();
  // Created once: connect timeouts, bind address and sinks need a restart to change.
  const pools = new UpstreamPools({ connectTimeoutMs: config.timeouts.connectMs, connections: config.maxUpstreamConnections });
  const app = createApp({
    getConfig,
    getAuth,
    adminToken: opts.adminToken?.trim() || null,
    ...(store ? { store } : {}),
    sink: opts.sink,
    detail: opts.sink !== nullSink,
    usage: typeof opts.usage === 'function' ? opts.usage : () => (opts.usage as UsageSource | null | undefined) ?? null,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    counters,
    pools,
    sanitize: reloadableSanitizer(getConfig),
    log: opts.log,
    startedAt: Math.floor(Date.now() / 1000),
  });
  const host = opts.host ?? config.server.host;
  if (!isLoopbackHost(host) && !opts.adminToken?.trim() && !getAuth().adminToken) {
    opts.log.warn(
      `listening on ${host} without an admin token: the admin API answers loopback clients only; ` +
        'set YALLMP_ADMIN_TOKEN or proxy_settings.auth.admin_token to administer it remotely',
    );
  }
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: opts.port ?? config.server.port }, () => resolve(s));
  });
  server.on('clientError', answerClientError);
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

/** `redact_headers` may change on reload; the sanitizer is rebuilt only when the snapshot does. */
function reloadableSanitizer(getConfig: () => ProxyConfig): HeaderSanitizer {
  let seen: ProxyConfig | null = null;
  let current: HeaderSanitizer = createHeaderSanitizer();
  return (headers) => {
    const config = getConfig();
    if (config !== seen) {
      seen = config;
      current = createHeaderSanitizer(config.logging.redactHeaders);
    }
    return current(headers);
  };
}

/**
 * Requests node's HTTP parser refuses (headers over 16 KiB, malformed request lines, header timeouts)
 * never reach the app; node's default answer is a bare status line. Clients of an OpenAI API get the
 * same error envelope as everywhere else.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const message = socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null };
  if (err.code === 'ECONNRESET' || !socket.writable || message._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, code, text] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'request_headers_too_large', 'Request headers exceed the size limit']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'The request was not received in time']
        : [400, 'malformed_request', 'Malformed HTTP request'];
  const body = JSON.stringify(toOpenAIError(new ProxyError(text, { status, type: 'invalid_request_error', code, logType: 'invalid_request' })));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
