import { Hono } from 'hono';
import type { ProxyConfig } from './config/types.ts';
import type { RealtimeCounters } from './logging/counters.ts';
import type { HeaderSanitizer } from './logging/sanitize.ts';
import type { RequestSink } from './logging/types.ts';
import { errorResponse, errors, ProxyError } from './openai/errors.ts';
import { healthRoutes } from './routes/health.ts';
import { modelsRoutes } from './routes/models.ts';
import { openaiRoutes } from './routes/openai.ts';
import type { UpstreamPools } from './upstream/pools.ts';

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface AppDeps {
  /** Read per request, so a reload swaps the config without touching in-flight requests. */
  getConfig: () => ProxyConfig;
  sink: RequestSink;
  counters: RealtimeCounters;
  pools: UpstreamPools;
  sanitize: HeaderSanitizer;
  log: Logger;
  /** Seconds since epoch reported as `created` in /v1/models. */
  startedAt: number;
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.route('/v1', openaiRoutes(deps));
  app.route('/v1', modelsRoutes(deps));
  app.route('/', healthRoutes(deps));

  app.notFound((c) => errorResponse(errors.notFound(c.req.path)));
  app.onError((err, c) => {
    if (err instanceof ProxyError) return errorResponse(err);
    deps.log.error(`unhandled error on ${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`);
    return errorResponse(errors.internal());
  });
  return app;
}
