import { Hono } from 'hono';
import type { Metrics } from '../metrics.ts';

/** Prometheus text exposition: https://prometheus.io/docs/instrumenting/exposition_formats/ */
export function metricsRoutes(metrics: Metrics): Hono {
  const app = new Hono();
  app.get('/metrics', async (c) => c.body(await metrics.render(), 200, { 'content-type': metrics.contentType }));
  return app;
}
