/**
 * `/admin/config*`. GET shows what runs, merged and masked: the default file's sections, with the
 * added file's models (tagged `source: "added"`) and fallbacks appended. PUT replaces the default
 * file; the added parts of a GET view sent back are recognised and left where they live, so
 * GET → edit → PUT is safe. Added models are managed through `/admin/models`.
 */
import { Hono } from 'hono';
import { isDeepStrictEqual } from 'node:util';
import { maskSecrets, unmaskSecrets } from '../auth/secrets.ts';
import { isPlainObject } from '../config/env.ts';
import { errors } from '../openai/errors.ts';
import { replaceDocument } from './admin-docs.ts';
import { stripAnnotations } from './admin-entry.ts';
import { commit, entriesOf, readJson, withWarnings, type AdminDeps } from './admin-shared.ts';

export function configRoutes(deps: AdminDeps): Hono {
  const { store } = deps;
  const app = new Hono();

  app.get('/config', (c) => {
    const defaults = store.raw('default');
    const added = store.raw('added');
    const view: Record<string, unknown> = { ...defaults };
    const models = [
      ...entriesOf(defaults).map((e) => ({ ...e, editable: false, source: 'default' })),
      ...entriesOf(added).map((e) => ({ ...e, editable: true, source: 'added' })),
    ];
    if ('model_list' in defaults || models.length > 0) view.model_list = models;
    const addedFallbacks = fallbacksOf(added);
    if ('router_settings' in defaults || addedFallbacks.length > 0) {
      const router = isPlainObject(defaults.router_settings) ? defaults.router_settings : {};
      view.router_settings = { ...router, fallbacks: [...fallbacksOf(defaults), ...addedFallbacks] };
    }
    return c.json(maskSecrets(view));
  });

  app.put('/config', async (c) => {
    const body = await readJson(c.req.raw);
    if (!isPlainObject(body)) throw errors.adminInvalidShape();
    const { warnings } = await commit(deps, 'Configuration not saved', ({ docs, touch }) => {
      const stored = docs.default.toJS() as Record<string, unknown>;
      const own = withoutAddedParts(body, fallbacksOf(docs.added.toJS() as Record<string, unknown>));
      const { value, problems } = unmaskSecrets(own, stored);
      if (problems.length > 0) throw errors.adminInvalid(null, problems.join('; '));
      replaceDocument(docs.default, value as Record<string, unknown>);
      touch('default');
    });
    deps.log.info(`admin: saved ${store.fileName('default')}`);
    return c.json(withWarnings({ status: 'ok', message: 'Configuration saved successfully' }, warnings));
  });

  app.post('/config/reload', async (c) => {
    const result = await store.reload();
    if (!result.ok) {
      throw errors.invalidConfig('Configuration not reloaded; the running configuration is unchanged', result.errors);
    }
    const { config, warnings } = result.snapshot;
    deps.log.info(`admin: configuration reloaded (${config.backends.size} models)`);
    for (const warning of warnings) deps.log.warn(warning);
    return c.json(
      withWarnings(
        { status: 'ok', message: 'Configuration reloaded successfully', models_count: config.backends.size },
        warnings,
      ),
    );
  });
  return app;
}

function fallbacksOf(top: Record<string, unknown>): unknown[] {
  const router = top.router_settings;
  return isPlainObject(router) && Array.isArray(router.fallbacks) ? router.fallbacks : [];
}

/** The body minus what GET took from the added file: tagged models and the trailing added fallbacks. */
function withoutAddedParts(body: Record<string, unknown>, addedFallbacks: readonly unknown[]): Record<string, unknown> {
  const result: Record<string, unknown> = { ...body };
  if (Array.isArray(body.model_list)) {
    result.model_list = body.model_list
      .filter((e) => !(isPlainObject(e) && e.source === 'added'))
      .map((e) => (isPlainObject(e) ? stripAnnotations(e) : e));
  }
  const router = body.router_settings;
  if (isPlainObject(router) && Array.isArray(router.fallbacks) && addedFallbacks.length > 0) {
    const list = router.fallbacks;
    const tail = list.slice(list.length - addedFallbacks.length);
    if (list.length >= addedFallbacks.length && isDeepStrictEqual(tail, addedFallbacks)) {
      result.router_settings = { ...router, fallbacks: list.slice(0, list.length - addedFallbacks.length) };
    }
  }
  return result;
}
