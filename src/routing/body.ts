import type { BackendConfig } from '../config/types.ts';

export type JsonObject = Record<string, unknown>;

/**
 * What the backend must receive. Returns the client's bytes untouched when nothing changes,
 * so a proxy hop costs no re-serialisation and preserves key order and number formatting.
 */
export function buildUpstreamBody(
  backend: BackendConfig,
  payload: JsonObject,
  raw: Uint8Array,
  opts: { isStream: boolean; isChat: boolean },
): Uint8Array | string {
  let changed = false;
  let out: JsonObject = payload;
  const set = (key: string, value: unknown): void => {
    if (!changed) {
      out = { ...payload };
      changed = true;
    }
    out[key] = value;
  };

  if (backend.targetModel !== null && payload.model !== backend.targetModel) set('model', backend.targetModel);

  for (const [key, rule] of Object.entries(backend.parameters)) {
    const present = Object.prototype.hasOwnProperty.call(payload, key);
    if (!rule.allowOverride || !present) {
      if (!present || !jsonEqual(payload[key], rule.default)) set(key, rule.default);
    }
  }

  if (backend.supportsReasoning && opts.isChat) {
    const thinking = reasoningThinking(payload.thinking);
    if (thinking !== undefined && !jsonEqual(payload.thinking, thinking)) set('thinking', thinking);
  }

  return changed ? JSON.stringify(out) : raw;
}

/**
 * Reasoning backends get thinking switched on unless the client explicitly disabled it;
 * extra keys such as budget_tokens are dropped as the original did, because the backends it
 * targets reject them. Returns undefined when the client's value stays as sent.
 */
function reasoningThinking(current: unknown): unknown {
  if (current && typeof current === 'object' && !Array.isArray(current)) {
    const type = (current as JsonObject).type;
    if (type === 'disabled') return undefined;
  }
  return { type: 'enabled' };
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
