/**
 * Valibot schemas for the on-disk YAML (snake_case). Every default of the configuration lives here.
 *
 * Values may arrive as strings because `${VAR}` substitution always yields strings, so numbers and
 * booleans accept their string spellings. Unknown keys are allowed everywhere (`looseObject`): the
 * original's files carry sections this proxy does not read (`http2`, `forwarder_settings`).
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

/** Response parser names as the original spells them, each mapped to its canonical name. */
export const PARSER_ALIASES = {
  parse_unparsed: 'parse_unparsed',
  parse_unparsed_tags: 'parse_unparsed',
  parse_tags: 'parse_unparsed',
  swap_reasoning_content: 'swap_reasoning_content',
  swap_reasoning: 'swap_reasoning_content',
} as const;
export type ParserName = (typeof PARSER_ALIASES)[keyof typeof PARSER_ALIASES];

const SWAP_MODES = {
  reasoning_to_content: 'reasoning_to_content',
  to_content: 'reasoning_to_content',
  'reasoning-to-content': 'reasoning_to_content',
  content_to_reasoning: 'content_to_reasoning',
  to_reasoning: 'content_to_reasoning',
  'content-to-reasoning': 'content_to_reasoning',
  auto: 'auto',
} as const;

const listOf = <T extends v.GenericSchema<unknown, unknown>>(item: T) =>
  v.pipe(
    v.unknown(),
    v.transform((input) => (input === null || input === undefined ? [] : typeof input === 'string' ? [input] : input)),
    v.array(item),
  );

const parserName = v.pipe(
  v.string(),
  v.trim(),
  v.check((s) => Object.hasOwn(PARSER_ALIASES, s), (issue) =>
    `Unknown response parser ${JSON.stringify(issue.input)} (expected one of ${Object.keys(PARSER_ALIASES).join(', ')})`),
  v.transform((s) => PARSER_ALIASES[s as keyof typeof PARSER_ALIASES]),
);

/** A tag name goes between `<` and `>`; those two and whitespace would make it unmatchable. */
const tagName = v.pipe(
  v.string(),
  v.trim(),
  v.regex(/^[^<>\s]{1,64}$/, (issue) => `Invalid tag name ${JSON.stringify(issue.input)} (1-64 characters, no <, > or spaces)`),
);

/** `think_open` / `think_close`: `{prefix, suffix}`, or a string meaning the prefix. */
const tagWrap = v.pipe(
  v.unknown(),
  v.transform((input) => (typeof input === 'string' ? { prefix: input } : input ?? {})),
  v.looseObject({ prefix: v.nullish(v.string(), ''), suffix: v.nullish(v.string(), '') }),
);

const parseUnparsedOptions = section({
  parse_thinking: v.nullish(boolLike, true),
  parse_tool_calls: v.nullish(boolLike, true),
  think_tag: v.nullish(tagName, 'think'),
  tool_tag: v.nullish(tagName, 'tool_call'),
});

const swapOptions = section({
  mode: v.pipe(
    v.nullish(v.string(), 'reasoning_to_content'),
    v.trim(),
    v.toLowerCase(),
    v.check((s) => Object.hasOwn(SWAP_MODES, s), (issue) =>
      `Unknown mode ${JSON.stringify(issue.input)} (expected reasoning_to_content, content_to_reasoning or auto)`),
    v.transform((s) => SWAP_MODES[s as keyof typeof SWAP_MODES]),
  ),
  think_tag: v.nullish(tagName, 'think'),
  think_open: v.optional(tagWrap, {}),
  think_close: v.optional(tagWrap, {}),
  include_newline: v.nullish(boolLike, true),
});

/**
 * `proxy_settings.parsers` and a model's own `parsers`: same shape, but `enabled` defaults to
 * false globally and to true on a model. Option blocks may be named by the canonical name or an
 * alias (the canonical one wins). Unknown parser names and modes are errors, not skipped.
 */
const parsersBlock = (enabledByDefault: boolean) =>
  v.pipe(
    v.unknown(),
    v.transform((input) => input ?? {}),
    v.looseObject({
      enabled: v.nullish(boolLike, enabledByDefault),
      response: v.optional(listOf(parserName), []),
      paths: v.nullish(listOf(v.string()), ['/chat/completions']),
      /** A `<tool_call>` block (or leading whitespace) held longer than this is let through as text. */
      max_held_chars: v.nullish(positiveInt, 65_536),
      parse_unparsed: v.optional(parseUnparsedOptions),
      parse_unparsed_tags: v.optional(parseUnparsedOptions),
      parse_tags: v.optional(parseUnparsedOptions),
      swap_reasoning_content: v.optional(swapOptions),
      swap_reasoning: v.optional(swapOptions),
    }),
    v.transform((p) => ({
      enabled: p.enabled,
      // parse_unparsed always runs first (the original reorders the same way); duplicates collapse.
      response: [...new Set(p.response)].sort((a, b) => (a === b ? 0 : a === 'parse_unparsed' ? -1 : 1)),
      paths: p.paths.filter((path) => path !== ''),
      max_held_chars: p.max_held_chars,
      parse_unparsed: p.parse_unparsed ?? p.parse_unparsed_tags ?? p.parse_tags ?? v.parse(parseUnparsedOptions, {}),
      swap_reasoning_content: p.swap_reasoning_content ?? p.swap_reasoning ?? v.parse(swapOptions, {}),
    })),
  );
export const globalParsersSchema = parsersBlock(false);
export const modelParsersSchema = parsersBlock(true);
export type ParsersSettings = v.InferOutput<typeof globalParsersSchema>;

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
      parsers: v.optional(modelParsersSchema),
    }),
    parameters,
    parsers: v.optional(modelParsersSchema),
  }),
  // The original read only entry-level `parameters` while its shipped config nested them under
  // `model_params`; both are honoured and the entry level wins per key.
  // `parsers` likewise (the original's alternative location); the entry level wins whole.
  v.transform(({ model_params: { parameters: nested, parsers: nestedParsers, ...params }, parameters: top, parsers, ...entry }) => ({
    ...entry,
    model_params: params,
    parameters: { ...nested, ...top },
    parsers: parsers ?? nestedParsers,
  })),
);

const fallbackTargets = v.pipe(
  v.unknown(),
  v.transform((input) => (typeof input === 'string' ? [input] : input)),
  v.array(nonEmptyString),
);
/** `[{primary: [fb1, fb2]}, {other: fb}]`; a map may hold several primaries. */
export const fallbacksSchema = v.nullish(v.array(v.record(v.string(), fallbackTargets)), []);

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
  max_upstream_connections: v.nullish(positiveInt, 4_096),
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
    log_parsed_response: v.nullish(boolLike, false),
    // No default here: absence means "same as log_parsed_response" (applied in build.ts).
    log_parsed_stream: v.nullish(boolLike),
  }),
  parsers: v.optional(globalParsersSchema),
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
    max_rows: v.nullish(positiveInt, 2000),
    max_ms: v.nullish(nonNegativeInt, 200),
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
