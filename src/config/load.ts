/**
 * YAML files → `${VAR}` substitution (each file with its own env file) → merge → `extends` →
 * valibot → frozen `ProxyConfig`. Every problem is collected, named by file and dot-path, so a
 * broken config is fixed in one round instead of one error per restart.
 */
import { resolve } from 'node:path';
import * as v from 'valibot';
import { authSchema } from '../auth/schema.ts';
import type { AuthSettings } from '../auth/schema.ts';
import { deepFreeze, toBackend, toProxyConfig } from './build.ts';
import { envFileFor, isPlainObject } from './env.ts';
import type { Env, MissingVar, Path } from './env.ts';
import { resolveInheritance } from './extends.ts';
import type { Resolution } from './extends.ts';
import { readConfigFile } from './read.ts';
import type { ConfigFile, Problems } from './read.ts';
import {
  addedSettingsSchema, modelEntrySchema, modelListSchema, portSchema, rawModelEntrySchema, settingsSchema,
} from './schema.ts';
import type { RawModelEntry } from './schema.ts';
import type { BackendConfig, ProxyConfig } from './types.ts';

export interface LoadOptions {
  readonly defaultPath: string;
  readonly addedPath: string;
  /** The process environment (`process.env` in `main.ts`); env-file values take precedence. */
  readonly env: Env;
  /** Project root: relative paths, in options and inside the config, resolve against it. */
  readonly rootDir: string;
}

export type LoadResult =
  | { ok: true; config: ProxyConfig; auth: AuthSettings; warnings: string[] }
  | { ok: false; errors: string[]; warnings: string[] };

interface EntryRef {
  readonly file: ConfigFile;
  readonly index: number;
  readonly raw: RawModelEntry;
  /** Unset variables inside this entry, with paths relative to the entry. */
  readonly missing: readonly MissingVar[];
}

export function defaultConfigPaths(env: Env, rootDir: string): { defaultPath: string; addedPath: string } {
  const pick = (value: string | undefined, fallback: string) =>
    resolve(rootDir, value?.trim() ? value.trim() : fallback);
  return {
    defaultPath: pick(env.YALLMP_CONFIG_DEFAULT, 'configs/config_default.yaml'),
    addedPath: pick(env.YALLMP_CONFIG_ADDED, 'configs/config_added.yaml'),
  };
}

export function loadConfig(opts: LoadOptions): LoadResult {
  const problems: Problems = { errors: [], warnings: [] };
  const { env, rootDir } = opts;
  const defaults = readConfigFile(
    { path: opts.defaultPath, env, rootDir, source: 'default', extraEnvFiles: [envFileFor(resolve(rootDir, opts.addedPath))] },
    problems,
  );
  const added = readConfigFile({ path: opts.addedPath, env, rootDir, source: 'added' }, problems);
  if (!defaults || !added) return { ok: false, ...problems };
  return buildConfig({ defaults, added, env, rootDir }, problems);
}

/**
 * Everything after reading: validation, merge, `extends`, freezing. The config store runs it on
 * edited in-memory documents, so a change is checked exactly like a start-up before it is written.
 */
export function buildConfig(
  input: { defaults: ConfigFile; added: ConfigFile; env: Env; rootDir: string },
  problems: Problems = { errors: [], warnings: [] },
): LoadResult {
  const { defaults, added, env, rootDir } = input;
  const { errors, warnings } = problems;
  const settings = validate(settingsSchema, defaults.top, defaults.label, '', errors);
  const addedSettings = validate(addedSettingsSchema, added.top, added.label, '', errors);
  const proxySettings = isPlainObject(defaults.top.proxy_settings) ? defaults.top.proxy_settings : {};
  const auth = validate(authSchema, proxySettings.auth, defaults.label, 'proxy_settings.auth', errors);
  const refs = [...collectEntries(defaults, errors), ...collectEntries(added, errors)];
  const backends = buildBackends(refs, resolveInheritance(refs.map((ref) => ref.raw)), problems);
  const server = serverAddress(settings?.proxy_settings.server, env, errors);
  if (!settings || !addedSettings || !auth || !server || errors.length > 0) return { ok: false, errors, warnings };

  const knownNames = new Set(refs.map((ref) => ref.raw.model_name));
  const fallbacks = mergeFallbacks(
    [
      { label: defaults.label, list: settings.router_settings.fallbacks },
      { label: added.label, list: addedSettings.router_settings.fallbacks },
    ],
    knownNames,
    warnings,
  );
  if (backends.size === 0) {
    warnings.push(`${defaults.label}: no models configured; every request will fail until one is added`);
  }
  const config = toProxyConfig({ settings, backends, fallbacks, server, rootDir });
  return { ok: true, config, auth: deepFreeze(auth), warnings };
}

type AnySchema = v.GenericSchema<unknown, unknown>;

/** Runs a schema and reports each issue as `<file>: <dot.path>: <message>`. */
function validate<S extends AnySchema>(
  schema: S, input: unknown, label: string, prefix: string, errors: string[],
): v.InferOutput<S> | null {
  const result = v.safeParse(schema, input);
  if (result.success) return result.output;
  for (const issue of result.issues) {
    const path = [prefix, v.getDotPath(issue) ?? ''].filter(Boolean).join('.');
    // A missing key reads better as "is required" than valibot's `Expected "x" but received undefined`.
    const missingKey = issue.kind === 'schema' && issue.received === 'undefined' && issue.expected?.startsWith('"');
    errors.push(`${label}: ${path || '(top level)'}: ${missingKey ? 'is required' : issue.message}`);
  }
  return null;
}

function collectEntries(file: ConfigFile, errors: string[]): EntryRef[] {
  const list = validate(modelListSchema, file.top.model_list, file.label, 'model_list', errors) ?? [];
  const refs: EntryRef[] = [];
  list.forEach((item, index) => {
    const raw = validate(rawModelEntrySchema, item, file.label, `model_list.${index}`, errors);
    if (!raw) return;
    const missing = file.missing
      .filter(({ path }) => path[0] === 'model_list' && path[1] === index)
      .map(({ name, path }) => ({ name, path: path.slice(2) }));
    refs.push({ file, index, raw, missing });
  });
  return refs;
}

function buildBackends(refs: readonly EntryRef[], resolutions: readonly Resolution[], { errors, warnings }: Problems) {
  const backends = new Map<string, BackendConfig>();
  refs.forEach((ref, i) => {
    const where = `model_list.${ref.index}`;
    const resolution = resolutions[i];
    if (!resolution?.ok) {
      errors.push(`${ref.file.label}: ${where}.extends: ${resolution?.error ?? 'unresolved'}`);
      return;
    }
    const entry = validate(modelEntrySchema, resolution.entry, ref.file.label, where, errors);
    if (!entry) return;
    const previous = backends.get(entry.model_name);
    if (previous?.source === ref.file.source) {
      warnings.push(`${ref.file.label}: ${where}: duplicate model '${entry.model_name}'; this later entry wins`);
    }
    // Map.set on an existing key keeps its position: an added model takes the place of the default one.
    backends.set(entry.model_name, toBackend(entry, ref.file.source, missingEnv(resolution, refs)));
  });
  return backends;
}

/** Unset variables whose placeholder survived the merge, from the entry itself or any base. */
function missingEnv(resolution: Resolution & { ok: true }, refs: readonly EntryRef[]): string[] {
  const names = new Set<string>();
  for (const member of resolution.chain.map((i) => refs[i])) {
    for (const { name, path } of member?.missing ?? []) {
      if (valueAt(resolution.entry, path) === valueAt(member?.raw, path)) names.add(name);
    }
  }
  return [...names];
}

function valueAt(root: unknown, path: Path): unknown {
  let node = root;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}

function mergeFallbacks(
  sources: readonly { label: string; list: readonly Record<string, string[]>[] }[],
  knownNames: ReadonlySet<string>,
  warnings: string[],
): Record<string, readonly string[]> {
  // Default list first, then added; a later entry for the same primary replaces the earlier one.
  const merged = new Map<string, { targets: string[]; where: string }>();
  for (const { label, list } of sources) {
    list.forEach((item, index) => {
      for (const [primary, targets] of Object.entries(item)) {
        merged.set(primary, { targets, where: `${label}: router_settings.fallbacks.${index}.${primary}` });
      }
    });
  }
  for (const [primary, { targets, where }] of merged) {
    for (const name of [primary, ...targets].filter((n) => !knownNames.has(n))) {
      warnings.push(`${where}: model '${name}' is not defined`);
    }
  }
  return Object.fromEntries([...merged].map(([primary, { targets }]) => [primary, targets]));
}

function serverAddress(
  configured: { host: string; port: number } | undefined, env: Env, errors: string[],
): { host: string; port: number } | null {
  const host = env.YALLMP_HOST?.trim() || configured?.host;
  const rawPort = env.YALLMP_PORT?.trim();
  let port = configured?.port;
  if (rawPort) {
    const parsed = v.safeParse(portSchema, rawPort);
    if (parsed.success) port = parsed.output;
    else errors.push(`YALLMP_PORT: Invalid port ${JSON.stringify(rawPort)} (expected an integer from 0 to 65535)`);
  }
  return host !== undefined && port !== undefined ? { host, port } : null;
}
