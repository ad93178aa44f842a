/**
 * `POST /admin/models` body → the model entry to persist, with the original's field resolution
 * and messages. Shape problems are answered here; everything else (URLs, types, `extends`) is left
 * to the loader, which checks the edited config exactly as at start-up.
 */
import { isPlainObject } from '../config/env.ts';
import type { Scope } from '../config/store.ts';
import { errors } from '../openai/errors.ts';

export interface Registration {
  readonly name: string;
  readonly scope: Scope;
  readonly entry: Record<string, unknown> & { model_name: string };
  /** null: leave the fallbacks as they are. */
  readonly fallbacks: string[] | null;
}

/** Body keys that steer the registration rather than describe the backend (flat form). */
const CONTROL_KEYS = new Set([
  'model_name', 'name', 'model_params', 'fallbacks', 'config_scope', 'parameters', 'parsers', 'extends',
  'editable', 'source', '_inherited_from',
]);
const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

export function parseRegistration(payload: unknown): Registration {
  if (!isPlainObject(payload)) throw errors.adminInvalidShape();
  const rawName = payload.model_name ?? payload.name;
  const name = typeof rawName === 'string' ? rawName.trim() : '';
  if (!name) throw errors.adminMissing('model_name', 'model_name is required');

  const nested = isPlainObject(payload.model_params) && Object.keys(payload.model_params).length > 0;
  const params: Record<string, unknown> = nested
    ? { ...(payload.model_params as Record<string, unknown>) }
    : Object.fromEntries(Object.entries(payload).filter(([k]) => !CONTROL_KEYS.has(k)));
  const base = optionalText(payload.extends ?? params.extends);
  delete params.extends;

  const apiBase = params.api_base ?? params.base_url;
  delete params.base_url;
  if (base === undefined && (apiBase === undefined || apiBase === null || apiBase === '')) {
    throw errors.adminMissing('api_base', 'api_base is required');
  }
  params.api_base = apiBase;
  params.api_key = params.api_key ?? payload.api_key;
  params.request_timeout = timeout(params, payload);
  delete params.timeout;
  if (base === undefined) {
    // A derived entry must not pin these, or it would override what it inherits.
    params.api_type ??= 'openai';
    params.supports_reasoning ??= false;
  }

  const entry: Record<string, unknown> & { model_name: string } = { model_name: name };
  if (base !== undefined) entry.extends = base;
  entry.model_params = dropBlank(params);
  for (const key of ['parameters', 'parsers'] as const) {
    if (payload[key] !== undefined && payload[key] !== null) entry[key] = payload[key];
  }
  return { name, scope: scopeOf(payload.config_scope), entry, fallbacks: fallbacksOf(payload.fallbacks) };
}

function optionalText(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

function timeout(params: Record<string, unknown>, payload: Record<string, unknown>): number | undefined {
  let value = Object.hasOwn(params, 'request_timeout') ? params.request_timeout : payload.request_timeout;
  if (value === undefined || value === null) value = params.timeout;
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && NUMERIC.test(value.trim())) return Number(value.trim());
  throw errors.adminInvalid('request_timeout', 'request_timeout must be numeric');
}

function fallbacksOf(value: unknown): string[] | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value.trim() ? [value.trim()] : [];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    return value.map((v: string) => v.trim()).filter(Boolean);
  }
  throw errors.adminInvalid('fallbacks', 'fallbacks must be a string or list of strings');
}

function scopeOf(value: unknown): Scope {
  if (value === undefined || value === null) return 'added';
  const scope = typeof value === 'string' ? value.trim().toLowerCase() : '';
  if (scope === 'added' || scope === 'default') return scope;
  throw errors.adminInvalid('config_scope', "config_scope must be 'added' or 'default'");
}

/** The original dropped keys whose value is null or a blank string. */
function dropBlank(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(params).filter(([, v]) => v !== undefined && v !== null && !(typeof v === 'string' && !v.trim())),
  );
}

/** Strips the annotations a listing adds, so an entry read from a view can be written back. */
export function stripAnnotations<T extends Record<string, unknown>>(entry: T): T {
  const { editable: _e, source: _s, _inherited_from: _i, ...rest } = entry;
  return rest as T;
}
