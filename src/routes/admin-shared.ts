/** Plumbing shared by the admin route files: JSON bodies, committing a change, raw entries. */
import type { Document } from 'yaml';
import type { Logger } from '../app.ts';
import { isPlainObject } from '../config/env.ts';
import type { ConfigStore, Draft } from '../config/store.ts';
import { readBodyLimited } from '../openai/body-limit.ts';
import { errors, ProxyError } from '../openai/errors.ts';

export interface AdminDeps {
  store: ConfigStore;
  log: Logger;
}

/** Config files are small; this keeps a runaway upload out of memory. */
const MAX_ADMIN_BODY_BYTES = 1_048_576;

export async function readJson(req: Request): Promise<unknown> {
  const raw = await readBodyLimited(req, MAX_ADMIN_BODY_BYTES);
  try {
    return JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw errors.adminInvalidJson();
  }
}

/** Runs a store change and turns its failures into admin errors. Returns the warnings it introduced. */
export async function commit<T>(
  deps: AdminDeps,
  summary: string,
  edit: (draft: Draft) => T,
): Promise<{ value: T; warnings: string[] }> {
  let result;
  try {
    result = await deps.store.change(edit);
  } catch (err) {
    if (err instanceof ProxyError) throw err;
    deps.log.error(`config write failed: ${(err as Error)?.stack ?? String(err)}`);
    throw errors.configWriteFailed(`Could not write the configuration: ${(err as Error)?.message ?? String(err)}`);
  }
  if (!result.ok) {
    const [first = 'conflict'] = result.errors;
    throw result.reason === 'conflict' ? errors.adminConflict(first, 'config_changed_on_disk') : errors.invalidConfig(summary, result.errors);
  }
  for (const warning of result.newWarnings) deps.log.warn(warning);
  return { value: result.value, warnings: result.newWarnings };
}

/** Adds `warnings` to a response body only when there are some, keeping the original's shape otherwise. */
export function withWarnings<T extends Record<string, unknown>>(body: T, warnings: readonly string[]): T {
  return warnings.length > 0 ? { ...body, warnings } : body;
}

export type RawEntry = Record<string, unknown> & { model_name: string; extends?: string };

/** The model entries of a raw file (named mappings only; the loader has refused anything else). */
export function entriesOf(top: Record<string, unknown>): RawEntry[] {
  const list = top.model_list;
  if (!Array.isArray(list)) return [];
  return list.filter((e): e is RawEntry => isPlainObject(e) && typeof e.model_name === 'string');
}

export function entryIn(doc: Document, name: string): RawEntry | undefined {
  const top: unknown = doc.toJS();
  return isPlainObject(top) ? entriesOf(top).find((e) => e.model_name === name) : undefined;
}
