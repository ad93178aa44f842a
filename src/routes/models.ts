import { Hono } from 'hono';
import type { AppDeps } from '../app.ts';

/** OpenAI's list shape: https://platform.openai.com/docs/api-reference/models/list */
export function modelsRoutes(deps: AppDeps): Hono {
  const app = new Hono();
  app.get('/models', (c) => {
    const data = [...deps.getConfig().backends.keys()].map((id) => ({
      id,
      object: 'model',
      created: deps.startedAt,
      owned_by: 'yallmp-proxy',
    }));
    return c.json({ object: 'list', data });
  });
  return app;
}
