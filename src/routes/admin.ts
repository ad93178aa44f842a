/**
 * `/admin/models*`: the original's runtime model management, with its paths and response shapes,
 * but every change validated like a start-up, persisted atomically and routable at once.
 */
import { Hono } from 'hono';
import { maskSecrets, unmaskSecrets } from '../auth/secrets.ts';
import { resolveInheritance } from '../config/extends.ts';
import type { Draft, Scope } from '../config/store.ts';
import { errors } from '../openai/errors.ts';
import { configRoutes } from './admin-config.ts';
import { findEntry, removeEntry, removeFallbacks, setFallbacks, upsertEntry } from './admin-docs.ts';
import { parseRegistration, stripAnnotations } from './admin-entry.ts';
import { commit, entriesOf, entryIn, readJson, withWarnings, type AdminDeps, type RawEntry } from './admin-shared.ts';

export type { AdminDeps } from './admin-shared.ts';

export function adminRoutes(deps: AdminDeps): Hono {
  const { store } = deps;
  const app = new Hono();

  app.post('/models', async (c) => {
    const reg = parseRegistration(await readJson(c.req.raw));
    const { value: replaced, warnings } = await commit(deps, `Model '${reg.name}' not registered`, ({ docs, touch }) => {
      if (reg.scope === 'added' && findEntry(docs.default, reg.name) >= 0) {
        throw errors.adminConflict(
          `Model '${reg.name}' exists in ${store.fileName('default')}. Use config_scope='default' or choose another name.`,
          'model_exists',
        );
      }
      if (reg.scope === 'default' && findEntry(docs.added, reg.name) >= 0) {
        throw errors.adminConflict(
          `Model '${reg.name}' exists in ${store.fileName('added')}. Delete it first or choose another name.`,
          'model_exists',
        );
      }
      // A masked key sent back (an edit form that kept it) means "keep the stored key".
      const { value, problems } = unmaskSecrets(reg.entry, entryIn(docs[reg.scope], reg.name));
      if (problems.length > 0) throw errors.adminInvalid(null, problems.join('; '));
      const replaced = upsertEntry(docs[reg.scope], value as RawEntry);
      if (reg.fallbacks !== null) setFallbacks(docs[reg.scope], reg.name, reg.fallbacks);
      touch(reg.scope);
      return replaced;
    });
    deps.log.info(`admin: ${replaced ? 'replaced' : 'registered'} model '${reg.name}' in ${store.fileName(reg.scope)}`);
    return c.json(
      withWarnings({ status: 'ok', model: reg.name, replaced, fallbacks: reg.fallbacks, config_scope: reg.scope }, warnings),
    );
  });

  app.get('/models', (c) => {
    const resolve = c.req.query('resolve') !== 'false';
    const listed = (['default', 'added'] as const).flatMap((source) =>
      entriesOf(store.raw(source)).map((entry) => ({ entry, source })),
    );
    const resolutions = resolve ? resolveInheritance(listed.map((l) => l.entry)) : [];
    const views = listed.map(({ entry, source }, i) => {
      const resolution = resolutions[i];
      const shown = resolution?.ok ? resolution.entry : entry;
      const parent = entry.extends === undefined ? {} : { _inherited_from: entry.extends };
      return { source, view: maskSecrets({ ...shown, editable: source === 'added', source, ...parent }) };
    });
    const of = (source: Scope) => views.filter((v) => v.source === source).map((v) => v.view);
    return c.json({ default: of('default'), added: of('added'), fallbacks: store.snapshot.config.fallbacks });
  });

  app.delete('/models/:name', async (c) => {
    const name = c.req.param('name');
    const { warnings } = await commit(deps, `Model '${name}' not deleted`, (draft) => {
      deleteModel(draft, name, store.fileName('default'));
    });
    deps.log.info(`admin: deleted model '${name}'`);
    return c.json(withWarnings({ status: 'ok', message: `Model '${name}' deleted successfully` }, warnings));
  });

  app.post('/models/copy', async (c) => {
    const source = c.req.query('source')?.trim();
    const target = c.req.query('target')?.trim();
    if (!source) throw errors.adminMissing('source', "'source' query parameter is required");
    if (!target) throw errors.adminMissing('target', "'target' query parameter is required");
    const { value: copy, warnings } = await commit(deps, `Model '${source}' not copied`, ({ docs, touch }) => {
      // The raw entry: placeholders, `extends` and secrets exactly as stored.
      const found = entryIn(docs.added, source) ?? entryIn(docs.default, source);
      if (!found) throw errors.adminModelNotFound(`Source model '${source}' not found`);
      if (findEntry(docs.default, target) >= 0 || findEntry(docs.added, target) >= 0) {
        throw errors.adminConflict(`Model '${target}' already exists`, 'model_exists');
      }
      const copy = { ...stripAnnotations(found), model_name: target };
      upsertEntry(docs.added, copy);
      touch('added');
      return copy;
    });
    deps.log.info(`admin: copied model '${source}' to '${target}'`);
    return c.json(
      withWarnings({ status: 'ok', message: `Model '${source}' copied to '${target}'`, model: maskSecrets(copy) }, warnings),
    );
  });

  app.route('/', configRoutes(deps));
  return app;
}

function deleteModel({ docs, touch }: Draft, name: string, defaultFile: string): void {
  if (findEntry(docs.default, name) >= 0) {
    throw errors.adminInvalid(
      null,
      `Model '${name}' is loaded from ${defaultFile} and cannot be deleted. Edit ${defaultFile} and reload the configuration to remove it.`,
    );
  }
  let removed = false;
  while (removeEntry(docs.added, name)) removed = true;
  const fallbacksRemoved = removeFallbacks(docs.added, name);
  if (!removed && !fallbacksRemoved) throw errors.adminModelNotFound(`Model '${name}' not found`);
  // Deleting a base would leave its derived models unresolvable: name them instead.
  const dependents = [...entriesOf(docs.default.toJS() ?? {}), ...entriesOf(docs.added.toJS() ?? {})]
    .filter((e) => e.extends === name)
    .map((e) => `'${e.model_name}'`);
  if (removed && dependents.length > 0) {
    throw errors.adminConflict(
      `Model '${name}' is extended by ${dependents.join(', ')}. Delete or change ${dependents.length > 1 ? 'them' : 'it'} first.`,
      'model_in_use',
    );
  }
  touch('added');
}
