/**
 * Valibot schemas for the on-disk YAML (snake_case). Every default of the configuration lives here.
 *
 * Values may arrive as strings because `${VAR}` substitution always yields strings, so numbers and
 * booleans accept their string spellings. Unknown keys are allowed everywhere (`looseObject`): the
 * original's files carry sections this proxy does not read (`parsers`, `http2`, `forwarder_settings`).
 */
import * as v from 'valibot';

const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;
const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);
/** An unresolved `${VAR}` / `$VAR` left by substitution (the variable was unset). */
const PLACEHOLDER = /\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*/;

function toNumberIfNumeric(input: unknown): unknown {
  return typeof input === 'string' && NUMERIC.test(input.trim()) ? Number(input.trim()) : input;
}

function toBooleanIfWord(input: unknown): unknown {
  if (typeof input === 'number') return input === 1 ? true : input === 0 ? false : input;
  if (typeof input !== 'string') return input;
  const word = input.trim().toLowerCase();
  return TRUE_WORDS.has(word) ? true : FALSE_WORDS.has(word) ? false : input;
}

const numberLike = v.pipe(v.unknown(), v.transform(toNumberIfNumeric), v.number(), v.finite());
const intLike = v.pipe(numberLike, v.integer());
const boolLike = v.pipe(v.unknown(), v.transform(toBooleanIfWord), v.boolean());
const positiveInt = v.pipe(intLike, v.minValue(1));
const nonNegativeInt = v.pipe(intLike, v.minValue(0));
const nonEmptyString = v.pipe(v.string(), v.trim(), v.nonEmpty('must not be empty'));
/** For optional strings: a blank value means "not set" (YAML `key:` gives null, `key: ""` gives ""). */
const optionalString = v.pipe(
  v.nullish(v.string()),
  v.transform((s) => (s === undefined || s === null || s.trim() === '' ? undefined : s.trim())),
);

export const portSchema = v.pipe(intLike, v.minValue(0), v.maxValue(65535));

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * An api_base that still holds an unset variable is let through: the unset-variable warning already
 * reports it and the model lands in `missingEnv`, so it refuses requests instead of blocking start-up.
 */
const apiBase = v.pipe(
  v.string(),
  v.trim(),
  v.check(
    (s) => isHttpUrl(s) || PLACEHOLDER.test(s),
    (issue) => `Invalid URL ${JSON.stringify(issue.input)} (expected an http:// or https:// URL)`,
  ),
);

const parameterRule = v.looseObject({
  default: v.unknown(),
  allow_override: v.nullish(boolLike, true),
});
const parameters = v.nullish(v.record(v.string(), parameterRule), {});

/** A model entry as written, before `extends` resolution: only what inheritance itself needs. */
export const rawModelEntrySchema = v.looseObject({
  model_name: nonEmptyString,
  extends: optionalString,
});

/** A model entry after `extends` resolution. */
export const modelEntrySchema = v.pipe(
  v.looseObject({
    model_name: nonEmptyString,
    model_params: v.looseObject({
      api_base: apiBase,
      api_key: v.nullish(v.string(), ''),
      model: optionalString,
      target_model: optionalString,
      forward_model: optionalString,
      api_type: v.pipe(
        v.nullish(v.string(), ''),
        v.transform((s) => s.trim().toLowerCase() || 'openai'),
      ),
      request_timeout: v.nullish(v.pipe(numberLike, v.gtValue(0)), 60),
      supports_reasoning: v.nullish(boolLike, false),
      parameters,
    }),
    parameters,
  }),
  // The original read only entry-level `parameters` while its shipped config nested them under
  // `model_params`; both are honoured and the entry level wins per key.
  v.transform(({ model_params: { parameters: nested, ...params }, parameters: top, ...entry }) => ({
    ...entry,
    model_params: params,
    parameters: { ...nested, ...top },
  })),
);

const fallbackTargets = v.pipe(
  v.unknown(),
  v.transform((input) => (typeof input === 'string' ? [input] : input)),
  v.array(nonEmptyString),
);
/** `[{primary: [fb1, fb2]}, {other: fb}]`; a map may hold several primaries. */
export const fallbacksSchema = v.nullish(v.array(v.record(v.string(), fallbackTargets)), []);

/** A mapping whose absence (or YAML `section:` with nothing under it) means "all defaults". */
const section = <const T extends v.ObjectEntries>(entries: T) =>
  v.optional(
    v.pipe(
      v.unknown(),
      v.transform((input) => input ?? {}),
      v.looseObject(entries),
    ),
    {},
  );

const routerSettings = section({
  num_retries: v.nullish(positiveInt, 1),
  fallbacks: fallbacksSchema,
});

const proxySettings = section({
  server: section({
    host: v.nullish(nonEmptyString, '127.0.0.1'),
    port: v.nullish(portSchema, 7979),
  }),
  // No default here: absence lets the legacy `general_settings` value apply (see below).
  enable_responses_endpoint: v.nullish(boolLike),
  max_request_body_bytes: v.nullish(positiveInt, 10_485_760),
  max_response_body_bytes: v.nullish(positiveInt, 8_388_608),
  timeouts: section({
    connect_ms: v.nullish(positiveInt, 10_000),
    stream_idle_ms: v.nullish(positiveInt, 120_000),
    body_ms: v.nullish(positiveInt, 600_000),
  }),
  retry: section({
    base_delay_ms: v.nullish(nonNegativeInt, 250),
    max_delay_ms: v.nullish(nonNegativeInt, 2_000),
    max_retry_after_ms: v.nullish(nonNegativeInt, 10_000),
  }),
  logging: section({
    files: v.nullish(boolLike, true),
    dir: v.nullish(nonEmptyString, 'logs/requests'),
    max_body_bytes: v.nullish(positiveInt, 262_144),
    max_stream_chunks: v.nullish(positiveInt, 2_000),
    max_stream_chunk_bytes: v.nullish(positiveInt, 1_048_576),
    redact_headers: v.nullish(
      v.array(v.pipe(nonEmptyString, v.toLowerCase())),
      [],
    ),
  }),
});

const database = section({
  enabled: v.nullish(boolLike, true),
  backend: v.pipe(
    v.nullish(v.string(), 'sqlite'),
    v.trim(),
    v.toLowerCase(),
    v.transform((s) => (s === 'postgresql' ? 'postgres' : s)),
    v.picklist(['sqlite', 'postgres'], (issue) =>
      `Invalid backend ${JSON.stringify(issue.input)} (expected sqlite, postgres or postgresql)`),
  ),
  auto_migrate: v.nullish(boolLike, true),
  connection: section({
    sqlite: section({ path: v.nullish(nonEmptyString, 'logs/yaLLM.db') }),
    postgres: section({
      host: v.nullish(nonEmptyString, 'localhost'),
      port: v.nullish(portSchema, 5432),
      database: v.nullish(nonEmptyString, 'yallm_proxy'),
      user: v.nullish(v.string(), 'postgres'),
      password: v.nullish(v.string(), ''),
    }),
  }),
  pool_size: v.nullish(positiveInt, 5),
  max_overflow: v.nullish(nonNegativeInt, 10),
  batch: section({
    max_rows: v.nullish(positiveInt, 500),
    max_ms: v.nullish(nonNegativeInt, 50),
  }),
  queue_max_rows: v.nullish(positiveInt, 50_000),
  spool_dir: v.nullish(nonEmptyString, 'logs/spool'),
  // Raw rows are kept a finite time by default (payloads grow fast); hour rollups for ever (0).
  retention: section({
    raw_days: v.nullish(nonNegativeInt, 30),
    minute_rollup_days: v.nullish(nonNegativeInt, 7),
    hour_rollup_days: v.nullish(nonNegativeInt, 0),
    interval_minutes: v.nullish(positiveInt, 10),
  }),
});

/**
 * Every section of the default file except `model_list`, whose entries are checked one by one
 * (before and after `extends`) so that one bad entry does not hide the problems of the others.
 */
export const settingsSchema = v.pipe(
  v.looseObject({
    router_settings: routerSettings,
    proxy_settings: proxySettings,
    general_settings: section({ enable_responses_endpoint: v.nullish(boolLike) }),
    database,
  }),
  v.transform(({ general_settings, proxy_settings, ...rest }) => ({
    ...rest,
    proxy_settings: {
      ...proxy_settings,
      enable_responses_endpoint:
        proxy_settings.enable_responses_endpoint ?? general_settings.enable_responses_endpoint ?? false,
    },
  })),
);

/** The added file contributes only `model_list` and `router_settings.fallbacks`. */
export const addedSettingsSchema = v.looseObject({
  router_settings: section({ fallbacks: fallbacksSchema }),
});

export const modelListSchema = v.nullish(v.array(v.unknown()), []);

export type RawModelEntry = v.InferOutput<typeof rawModelEntrySchema>;
export type ModelEntry = v.InferOutput<typeof modelEntrySchema>;
export type Settings = v.InferOutput<typeof settingsSchema>;
export type AddedSettings = v.InferOutput<typeof addedSettingsSchema>;
