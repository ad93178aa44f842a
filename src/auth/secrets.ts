/**
 * Masking of credentials in every admin view, and recognition of masks sent back, so that a view
 * edited and saved never replaces a stored secret with its mask (the original's data loss).
 */
import { isPlainObject } from '../config/env.ts';

/** A key is secret when one of its words (split on `_`, `-`, camelCase) is one of these. */
const SECRET_WORDS = new Set(['key', 'apikey', 'password', 'passwd', 'secret', 'token', 'authorization']);
/** Values that are only `${VAR}` / `$VAR` references name a secret without revealing it. */
const PLACEHOLDERS_ONLY = /^(?:\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*)+$/;
const MASK = /^\*{4}[\s\S]{0,4}$/;
/** Below this length even the last four characters would give away too much of the value. */
const SHOW_TAIL_FROM = 24;

export function isSecretKey(name: string): boolean {
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().split(/[^a-z0-9]+/);
  return words.some((w) => SECRET_WORDS.has(w));
}

/** `****` plus, for long values, the last four characters; "" and placeholders are shown as they are. */
export function maskValue(value: string | number): string {
  const text = String(value);
  if (text === '' || PLACEHOLDERS_ONLY.test(text)) return text;
  return text.length >= SHOW_TAIL_FROM ? `****${text.slice(-4)}` : '****';
}

export function isMask(value: unknown): value is string {
  return typeof value === 'string' && MASK.test(value);
}

/** A deep copy of `value` with every string or number under a secret key masked. */
export function maskSecrets(value: unknown, secret = false): unknown {
  if (Array.isArray(value)) return value.map((item) => maskSecrets(item, secret));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, isSecretKey(k))]));
  }
  return secret && (typeof value === 'string' || typeof value === 'number') ? maskValue(value) : value;
}

/**
 * Replaces every mask under a secret key of `incoming` by the stored value it masks, found at the
 * same place in `stored` (list items that carry a `model_name` are matched by name, others by
 * position). A mask that matches nothing is reported: saving it would destroy the secret.
 */
export function unmaskSecrets(incoming: unknown, stored: unknown): { value: unknown; problems: string[] } {
  const problems: string[] = [];
  const walk = (node: unknown, old: unknown, path: string[], secret: boolean): unknown => {
    if (secret && isMask(node)) {
      if ((typeof old === 'string' || typeof old === 'number') && maskValue(old) === node) return old;
      problems.push(`${path.join('.')}: masked value does not match the stored secret; send the real value`);
      return node;
    }
    if (Array.isArray(node)) {
      const olds = Array.isArray(old) ? old : [];
      return node.map((item, i) => walk(item, counterpart(item, olds, i), [...path, String(i)], secret));
    }
    if (isPlainObject(node)) {
      const oldMap = isPlainObject(old) ? old : {};
      return Object.fromEntries(
        Object.entries(node).map(([k, v]) => [k, walk(v, oldMap[k], [...path, k], isSecretKey(k))]),
      );
    }
    return node;
  };
  return { value: walk(incoming, stored, [], false), problems };
}

function counterpart(item: unknown, olds: readonly unknown[], index: number): unknown {
  if (isPlainObject(item) && typeof item.model_name === 'string') {
    return olds.find((old) => isPlainObject(old) && old.model_name === item.model_name);
  }
  return olds[index];
}
