/**
 * Model inheritance (`extends`), as in the original's `_resolve_all_model_inheritance`, except that
 * errors are returned per entry instead of silently leaving the whole list unresolved.
 */
import { isPlainObject } from './env.ts';

export const MAX_INHERITANCE_DEPTH = 10;

export interface InheritableEntry {
  readonly model_name: string;
  readonly extends?: string | undefined;
  readonly [key: string]: unknown;
}

export type Resolution =
  | {
      readonly ok: true;
      /** The merged entry, without `extends`. */
      readonly entry: Record<string, unknown>;
      /** Indices into the input list: the entry itself, its base, the base's base, ... */
      readonly chain: readonly number[];
    }
  | { readonly ok: false; readonly error: string };

/**
 * Resolves every entry of `entries` (default models then added ones). Bases are looked up by
 * name, last definition wins, so an added model can extend, or replace the base of, a default one.
 */
export function resolveInheritance(entries: readonly InheritableEntry[]): Resolution[] {
  const byName = new Map<string, number>();
  entries.forEach((entry, index) => byName.set(entry.model_name, index));
  const memo = new Map<number, Resolution>();

  const resolve = (index: number): Resolution => {
    const cached = memo.get(index);
    if (cached) return cached;
    const result = resolveUncached(entries, byName, index, resolve);
    memo.set(index, result);
    return result;
  };
  return entries.map((_, index) => resolve(index));
}

function resolveUncached(
  entries: readonly InheritableEntry[],
  byName: ReadonlyMap<string, number>,
  index: number,
  resolve: (index: number) => Resolution,
): Resolution {
  // Walk the chain first so that cycles and depth are reported for this model with its full chain.
  const start = entries[index];
  if (!start) throw new RangeError(`no model entry at index ${index}`);
  const names = [start.model_name];
  const seen = new Set([index]);
  let current = start;
  while (current.extends !== undefined) {
    const baseIndex = byName.get(current.extends);
    names.push(current.extends);
    if (baseIndex === undefined) {
      const via = names.length > 2 ? ` (${names.join(' -> ')})` : '';
      return fail(`Model '${current.model_name}' extends '${current.extends}', but base model not found${via}`);
    }
    if (seen.has(baseIndex)) {
      return fail(`Circular inheritance detected for model '${start.model_name}': ${names.join(' -> ')}`);
    }
    if (names.length - 1 > MAX_INHERITANCE_DEPTH) {
      return fail(
        `Maximum inheritance depth (${MAX_INHERITANCE_DEPTH}) exceeded for model '${start.model_name}': ${names.join(' -> ')}`,
      );
    }
    seen.add(baseIndex);
    current = entries[baseIndex] ?? current;
  }

  const { extends: baseName, ...own } = start;
  if (baseName === undefined) return { ok: true, entry: deepMerge({}, own), chain: [index] };
  const baseIndex = byName.get(baseName) ?? -1;
  const base = resolve(baseIndex);
  if (!base.ok) return base;
  return { ok: true, entry: deepMerge(base.entry, own), chain: [index, ...base.chain] };
}

function fail(error: string): Resolution {
  return { ok: false, error };
}

/**
 * Mappings merge key by key and `derived` wins; lists and scalars are replaced whole (a derived
 * `null` replaces too). Returns fresh objects and arrays: neither input is shared or mutated.
 */
export function deepMerge(
  base: Readonly<Record<string, unknown>>,
  derived: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  // A Map, then `fromEntries`, so that a `__proto__` key stays data instead of setting the prototype.
  const result = new Map<string, unknown>();
  for (const [key, value] of Object.entries(base)) result.set(key, clone(value));
  for (const [key, value] of Object.entries(derived)) {
    const existing = result.get(key);
    result.set(key, isPlainObject(existing) && isPlainObject(value) ? deepMerge(existing, value) : clone(value));
  }
  return Object.fromEntries(result);
}

function clone(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clone);
  if (isPlainObject(value)) return deepMerge({}, value);
  return value;
}
