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
  // A copy of the payload once something changes (no closure: this runs for every request).
  let out: JsonObject | null = null;

  if (backend.targetModel !== null && payload.model !== backend.targetModel) out = withKey(out, payload, 'model', backend.targetModel);

  for (const [key, rule] of Object.entries(backend.parameters)) {
    const present = Object.prototype.hasOwnProperty.call(payload, key);
    if (!rule.allowOverride || !present) {
      if (!present || !jsonEqual(payload[key], rule.default)) out = withKey(out, payload, key, rule.default);
    }
  }

  if (backend.supportsReasoning && opts.isChat) {
    const thinking = reasoningThinking(payload.thinking);
    if (thinking !== undefined && !jsonEqual(payload.thinking, thinking)) out = withKey(out, payload, 'thinking', thinking);
  }

  return out !== null ? JSON.stringify(out) : raw;
}

function withKey(out: JsonObject | null, payload: JsonObject, key: string, value: unknown): JsonObject {
  const o = out ?? { ...payload };
  o[key] = value;
  return o;
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
