import { errors, type ProxyError } from './errors.ts';
import type { JsonObject } from '../routing/body.ts';

export type Endpoint = 'chat' | 'completions' | 'embeddings' | 'responses';


/** Buffer's UTF-8 slice is several times faster than TextDecoder for short strings. */
function utf8(raw: Uint8Array): string {
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
}

/** An empty body is `{}` (then "missing model"), as in the original. */
export function parseJsonBody(raw: Uint8Array): { ok: true; payload: JsonObject } | { ok: false; error: ProxyError; parsed?: unknown } {
  let parsed: unknown;
  try {
    parsed = raw.byteLength === 0 ? {} : JSON.parse(utf8(raw));
  } catch {
    return { ok: false, error: errors.invalidJson() };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, error: errors.invalidJsonShape(), parsed };
  }
  return { ok: true, payload: parsed as JsonObject };
}

/** Only what the proxy needs to route; everything else is the backend's to judge. */
export function validatePayload(endpoint: Endpoint, payload: JsonObject): ProxyError | null {
  const model = payload.model;
  if (typeof model !== 'string' || model.trim() === '') return errors.missingModel();
  if (payload.stream !== undefined && payload.stream !== null && typeof payload.stream !== 'boolean') {
    return errors.invalidParameter('stream', "'stream' must be a boolean");
  }
  switch (endpoint) {
    case 'chat':
      if (!Array.isArray(payload.messages) || payload.messages.length === 0) return errors.missingMessages();
      return null;
    case 'completions':
      if (payload.prompt === undefined || payload.prompt === null) return errors.missingPrompt();
      return null;
    case 'embeddings':
      if (payload.input === undefined || payload.input === null) return errors.missingInput();
      return null;
    case 'responses':
      return null;
  }
}
