/**
 * Reads one config file: YAML (with `<<` merge keys, as PyYAML allowed), then `${VAR}` substitution
 * with the env file beside it. Problems are pushed to the caller's lists, named by file.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { envFileFor, isPlainObject, parseDotenv, substituteEnv } from './env.ts';
import type { Env, MissingVar } from './env.ts';
import type { BackendConfig } from './types.ts';

export interface Problems { readonly errors: string[]; readonly warnings: string[] }

export interface ConfigFile {
  /** The path as shown in messages: relative to the project root when inside it. */
  readonly label: string;
  readonly source: BackendConfig['source'];
  readonly top: Record<string, unknown>;
  /** Unset variables, with paths from the top of the file. */
  readonly missing: readonly MissingVar[];
}

export interface ReadOptions {
  readonly path: string;
  readonly env: Env;
  readonly rootDir: string;
  readonly source: BackendConfig['source'];
  /**
   * Further env files consulted after this file's own (and before the process env). The
   * default config also reads `.env_added`, where the seed tells users to put DB_USER and
   * DB_PASSWORD for the `database` block that lives in `config_default.yaml`.
   */
  readonly extraEnvFiles?: readonly string[];
}

/** The only sections read from the added file; the original ignored everything else there too. */
const ADDED_SECTIONS = ['model_list', 'router_settings'];

export function readConfigFile(opts: ReadOptions, { errors, warnings }: Problems): ConfigFile | null {
  const { source } = opts;
  const path = resolve(opts.rootDir, opts.path);
  const rel = relative(opts.rootDir, path);
  const label = rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
  const text = readText(path);
  if (text instanceof Error) {
    if ('code' in text && text.code === 'ENOENT') {
      if (source === 'default') errors.push(`Config file not found: ${path}`);
      else warnings.push(`${label}: not found; no added models or fallbacks loaded`);
      return source === 'default' ? null : { label, source, top: {}, missing: [] };
    }
    errors.push(`${label}: cannot read: ${text.message}`);
    return null;
  }

  const doc = parseDocument(text, { merge: true });
  for (const e of doc.errors) {
    const [line, column] = [e.linePos?.[0].line ?? '?', e.linePos?.[0].col ?? '?'];
    const message = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    errors.push(`${label}: line ${line}, column ${column}: ${message}`);
  }
  if (doc.errors.length > 0) return null;
  let top: unknown = doc.toJS() ?? {};
  if (!isPlainObject(top)) {
    errors.push(`${label}: expected a mapping at the top level, got ${Array.isArray(top) ? 'a list' : typeof top}`);
    return null;
  }
  if (source === 'added') top = pickAddedSections(top, label, warnings);

  let fileEnv: Record<string, string> = {};
  for (const envPath of [...(opts.extraEnvFiles ?? []), envFileFor(path)]) {
    const envText = readText(envPath);
    if (envText instanceof Error && !('code' in envText && envText.code === 'ENOENT')) {
      warnings.push(`${label}: env file ${envPath} ignored: ${envText.message}`);
    }
    if (typeof envText === 'string') fileEnv = { ...fileEnv, ...parseDotenv(envText) };
  }
  const { value, missing } = substituteEnv(top, fileEnv, opts.env);
  for (const { name, path: at } of missing) {
    warnings.push(`${label}: environment variable '${name}' is not set (${at.join('.')})`);
  }
  return { label, source, top: value as Record<string, unknown>, missing };
}

function readText(path: string): string | Error {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

function pickAddedSections(top: Record<string, unknown>, label: string, warnings: string[]) {
  for (const key of Object.keys(top).filter((k) => !ADDED_SECTIONS.includes(k))) {
    warnings.push(`${label}: section '${key}' is ignored (the added config provides only model_list and router_settings.fallbacks)`);
  }
  const router = top.router_settings;
  if (isPlainObject(router)) {
    for (const key of Object.keys(router).filter((k) => k !== 'fallbacks')) {
      warnings.push(`${label}: router_settings.${key} is ignored (the added config provides only router_settings.fallbacks)`);
    }
  }
  return Object.fromEntries(Object.entries(top).filter(([k]) => ADDED_SECTIONS.includes(k)));
}
