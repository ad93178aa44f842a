import { Hono } from 'hono';
import { adminGuard } from './auth/admin.ts';
import { clientKeyGuard } from './auth/client.ts';
import { NO_AUTH, type AuthSettings } from './auth/schema.ts';
import type { ConfigStore } from './config/store.ts';
import type { ProxyConfig } from './config/types.ts';
import type { RealtimeCounters } from './logging/counters.ts';
import type { HeaderSanitizer } from './logging/sanitize.ts';
import type { RequestSink } from './logging/types.ts';
import { errorResponse, errors, ProxyError } from './openai/errors.ts';
import { adminRoutes } from './routes/admin.ts';
import { adminUiRoutes } from './routes/admin-ui.ts';
import { pagesRoutes } from './routes/pages.ts';
import { healthRoutes } from './routes/health.ts';
import { logsRoutes } from './routes/logs.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { usageRoutes, type UsageSource } from './routes/usage.ts';
import type { Metrics } from './metrics.ts';
import { modelsRoutes } from './routes/models.ts';
import { openaiRoutes, rejectClient } from './routes/openai.ts';
import type { UpstreamPools } from './upstream/pools.ts';

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** The console logger the entry points (main, demo) use. */
export const consoleLogger: Logger = {
  info: (m) => console.log(`[yallmp] ${m}`),
  warn: (m) => console.warn(`[yallmp] WARN ${m}`),
  error: (m) => console.error(`[yallmp] ERROR ${m}`),
};

export interface AppDeps {
  /** Read per request, so a reload swaps the config without touching in-flight requests. */
  getConfig: () => ProxyConfig;
  sink: RequestSink;
  counters: RealtimeCounters;
  pools: UpstreamPools;
  sanitize: HeaderSanitizer;
  log: Logger;
  /**
   * false when no sink keeps records (benchmarks with logging off): response headers, bodies and
   * streams are then not captured, since nobody would read them.
   */
  detail?: boolean;
  /** Seconds since epoch reported as `created` in /v1/models. */
  startedAt: number;
  /** Client keys and the config's admin token, read per request (a reload may change them). */
  getAuth?: () => AuthSettings;
  /** `YALLMP_ADMIN_TOKEN`; beats `proxy_settings.auth.admin_token`. */
  adminToken?: string | null;
  /** The file-backed config; without it the admin model/config API is not mounted. */
  store?: ConfigStore;
  /**
   * Where historical usage and logs are read from, asked per request: null while database
   * logging is off, or while an enabled database has not been reachable yet.
   */
  usage?: () => UsageSource | null;
  /** Prometheus registry behind /metrics; absent → /metrics is not served. */
  metrics?: Metrics;
  /** The clock `/api/usage` reads ("now" for `hours=`, `generated_at`); tests pin it. Default: the system clock. */
  now?: () => Date;
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const auth = (): AuthSettings => deps.getAuth?.() ?? NO_AUTH;

  app.use('/v1/*', clientKeyGuard({ keys: () => auth().keys, reject: (c) => rejectClient(deps, c.req.raw) }));
  app.route('/v1', openaiRoutes(deps));
  app.route('/v1', modelsRoutes(deps));
  app.route('/', healthRoutes(deps));
  app.route('/', usageRoutes(deps));
  if (deps.metrics) app.route('/', metricsRoutes(deps.metrics));

  // The page's static files come before the guard: they hold no data, and a browser cannot attach
  // the token to a page load. Everything the page calls is guarded.
  app.route('/', adminUiRoutes());
  app.route('/', pagesRoutes());
  // Registered before the routes it protects (Hono runs handlers in registration order), so the
  // logs API mounted below inherits it.
  const guard = adminGuard({ token: () => deps.adminToken || auth().adminToken });
  app.use('/admin/*', guard);
  app.use('/api/logs', guard);
  app.use('/api/logs/*', guard);
  if (deps.store) app.route('/admin', adminRoutes({ store: deps.store, log: deps.log }));
  app.route('/', logsRoutes(deps));

  app.notFound((c) => errorResponse(errors.notFound(c.req.path)));
  app.onError((err, c) => {
    if (err instanceof ProxyError) return errorResponse(err);
    deps.log.error(`unhandled error on ${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`);
    return errorResponse(errors.internal());
  });
  return app;
}
