import type { Usage } from '../logging/types.ts';
import { COLON, CR, LOWER_E, SPACE, TAB } from './bytes.ts';
import type { SseEvent } from './parser.ts';
import { indexOfJoined, indexOfQuoted } from './text-search.ts';

export interface SseErrorInfo {
  kind: 'error';
  /** `SSE stream error: …` — the prefix makes the logging layer infer `sse_stream_error`, as in the original. */
  message: string;
  code: string | number | null;
  type: string | null;
  httpStatus: number | null;
}

export interface SseDataInfo {
  kind: 'data';
  /** Parsed JSON, or null when the data was not JSON. */
  json: unknown;
  usage: Usage | null;
  finishReason: string | null;
  /** Any non-error data event counts as content (role-only first chunks included). */
  hasContent: boolean;
}

export type SseClassification = { kind: 'done' } | SseErrorInfo | SseDataInfo | { kind: 'other' };

/** Upstream error text lands in logs and the database; this bounds it. */
const MAX_MESSAGE_CHARS = 2000;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Python-`or` truthiness, to keep the original's fallbacks (`message or str(error)`, `http_code or 'unknown'`). */
function truthy(v: unknown): v is string | number | boolean | object {
  return v !== undefined && v !== null && v !== '' && v !== 0 && v !== false;
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
}

function clip(s: string): string {
  return s.length > MAX_MESSAGE_CHARS ? `${s.slice(0, MAX_MESSAGE_CHARS)}…` : s;
}

function codeOf(v: unknown): string | number | null {
  return typeof v === 'string' || typeof v === 'number' ? v : null;
}

function statusOf(...candidates: unknown[]): number | null {
  for (const c of candidates) {
    const n = typeof c === 'number' ? c : typeof c === 'string' && /^\d{3}$/.test(c.trim()) ? Number(c) : NaN;
    if (Number.isInteger(n) && n >= 100 && n <= 599) return n;
  }
  return null;
}

function errorInfo(message: string, code: unknown, type: unknown, status: number | null): SseErrorInfo {
  return {
    kind: 'error',
    message: `SSE stream error: ${clip(message)}`,
    code: codeOf(code),
    type: typeof type === 'string' ? type : null,
    httpStatus: status,
  };
}

/** `{"type":"error",…}`: MiniMax/Anthropic nest an `error`; the Responses API puts code/message at top level. */
function typedError(obj: Obj): SseErrorInfo {
  const e = obj.error;
  if (isObj(e)) {
    const msg = truthy(e.message) ? text(e.message) : Object.keys(e).length > 0 ? text(e) : 'unknown error';
    const httpCode = truthy(e.http_code) ? text(e.http_code) : 'unknown';
    return errorInfo(`${msg} (http_code=${httpCode})`, e.code ?? e.http_code, e.type, statusOf(e.http_code, e.status));
  }
  // A string `error` crashed the original (AttributeError → 500); here it is the message.
  const msg = typeof e === 'string' && e !== '' ? e : truthy(obj.message) ? text(obj.message) : 'unknown error';
  const httpCode = truthy(obj.http_code) ? text(obj.http_code) : 'unknown';
  return errorInfo(`${msg} (http_code=${httpCode})`, obj.code, null, statusOf(obj.http_code, obj.status));
}

/** `{"error":{…}}` (OpenAI style) or `{"error":"…"}`; null when the object carries no error. */
function plainError(obj: Obj): SseErrorInfo | null {
  const e = obj.error;
  if (isObj(e)) {
    const msg = truthy(e.message) ? text(e.message) : text(e);
    const type = truthy(e.type) ? text(e.type) : 'unknown';
    return errorInfo(`${msg} (type=${type})`, e.code, e.type, statusOf(e.status, e.http_code, e.code));
  }
  if (typeof e === 'string' && e !== '') return errorInfo(`${e} (type=unknown)`, obj.code, null, statusOf(obj.status));
  // Responses API: the stream reports a failed response instead of an `error` event.
  if (obj.type === 'response.failed' && isObj(obj.response) && isObj(obj.response.error)) {
    const re = obj.response.error;
    const msg = truthy(re.message) ? text(re.message) : text(re);
    return errorInfo(`${msg} (type=${truthy(re.code) ? text(re.code) : 'unknown'})`, re.code, null, null);
  }
  return null;
}

function usageOf(obj: Obj): Usage | null {
  if (isObj(obj.usage)) return obj.usage as Usage;
  if (isObj(obj.response) && isObj(obj.response.usage)) return obj.response.usage as Usage;
  return null;
}

function finishReasonOf(obj: Obj): string | null {
  const choices = obj.choices;
  if (!Array.isArray(choices)) return null;
  for (const c of choices) {
    if (isObj(c) && typeof c.finish_reason === 'string') return c.finish_reason;
  }
  return null;
}

function parseJson(data: string): unknown {
  // Only objects and arrays can carry anything we read; skipping the throw on plain text keeps this cheap.
  const c = data.trimStart().charCodeAt(0);
  if (c !== 0x7b && c !== 0x5b) return null;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return null;
  }
}

function isDone(data: string): boolean {
  return data === '[DONE]' || (data.length < 32 && data.trim() === '[DONE]');
}

export function classifySseEvent(ev: SseEvent): SseClassification {
  const { data } = ev;
  if (isDone(data)) return { kind: 'done' };
  const json = parseJson(data);
  const obj = isObj(json) ? json : null;
  if (obj) {
    const err = obj.type === 'error' ? typedError(obj) : plainError(obj);
    if (err) return err;
  }
  if (ev.event === 'error') {
    if (obj) return typedError(obj);
    return errorInfo(`${data.trim() || 'unknown error'} (type=unknown)`, null, null, null);
  }
  // Anthropic-style pings are keep-alives, not content.
  if (ev.event === 'ping' || obj?.type === 'ping') return { kind: 'other' };
  return {
    kind: 'data',
    json,
    usage: obj ? usageOf(obj) : null,
    finishReason: obj ? finishReasonOf(obj) : null,
    hasContent: true,
  };
}

/**
 * Cheap pre-check for the tap: false only when the event certainly carries no error, usage, finish_reason or
 * `[DONE]`, so ordinary content chunks (`"finish_reason":null`, `"usage":null`) skip JSON.parse entirely.
 */
export function mayCarryRecordData(ev: SseEvent): boolean {
  const { data } = ev;
  if (ev.event === 'error') return true;
  if (data.length < 32 && isDone(data)) return true;
  if (indexOfJoined(data, LOWER_E, 'rror') >= 0) return true; // data.includes('error'), faster
  if (hasNonNullKey(data, 'usage"') || hasNonNullKey(data, 'finish_reason"')) return true;
  // JSON may spell a key with escapes (`"\u0075sage"`); such data always goes through the full parse.
  return data.includes('\\u');
}

/**
 * Whether the key `"<rest>` occurs with a value other than a literal null (or occurs in a string:
 * erring towards true). Runs on every event the tap sees, hence no regex per character.
 */
function hasNonNullKey(data: string, rest: string): boolean {
  const keyLength = rest.length + 1;
  for (let i = indexOfQuoted(data, rest); i >= 0; i = indexOfQuoted(data, rest, i + keyLength)) {
    let j = i + keyLength;
    while (j < data.length && isSpaceOrColon(data.charCodeAt(j))) j++;
    if (!data.startsWith('null', j)) return true;
  }
  return false;
}

/** `/[\s:]/` for one UTF-16 unit; ASCII is decided without the regex. */
function isSpaceOrColon(c: number): boolean {
  if (c < 128) return c === COLON || c === SPACE || (c >= TAB && c <= CR);
  return SPACE_OR_COLON.test(String.fromCharCode(c));
}

const SPACE_OR_COLON = /[\s:]/;
