import { Hono } from 'hono';
import type { AppDeps } from '../app.ts';

export function healthRoutes(deps: AppDeps): Hono {
  const app = new Hono();
  app.get('/health', (c) => c.json({ status: 'ok', models: deps.getConfig().backends.size, ongoing: deps.counters.snapshot().ongoing }));
  return app;
}
