/**
 * Turns validated snake_case YAML values into the camelCase runtime types of `types.ts`.
 * No defaults here: they were all applied by `schema.ts`.
 */
import { isAbsolute, resolve } from 'node:path';
import type { ModelEntry, ParsersSettings, Settings } from './schema.ts';
import type { BackendConfig, ParameterRule, ParsersConfig, ParsingConfig, ProxyConfig } from './types.ts';

/**
 * The original's `extract_target_model`: an explicit `target_model` / `forward_model` wins; else
 * `model` loses a leading `<api_type>/`, or failing that `openai/`, provided something remains.
 */
export function extractTargetModel(
  params: { target_model?: string | undefined; forward_model?: string | undefined; model?: string | undefined },
  apiType: string,
): string | null {
  const explicit = params.target_model ?? params.forward_model;
  if (explicit !== undefined) return explicit;
  const model = params.model;
  if (model === undefined) return null;
  for (const prefix of [`${apiType}/`, 'openai/']) {
    if (model.length > prefix.length && model.toLowerCase().startsWith(prefix.toLowerCase())) {
      return model.slice(prefix.length);
    }
  }
  return model;
}

export function toBackend(
  entry: ModelEntry,
  source: BackendConfig['source'],
  missingEnv: readonly string[],
): BackendConfig {
  const params = entry.model_params;
  const parameters = Object.fromEntries(
    Object.entries(entry.parameters).map(([key, rule]): [string, ParameterRule] => [
      key,
      { default: rule.default, allowOverride: rule.allow_override },
    ]),
  );
  return {
    name: entry.model_name,
    apiBase: params.api_base,
    apiKey: params.api_key,
    targetModel: extractTargetModel(params, params.api_type),
    apiType: params.api_type,
    requestTimeoutMs: params.request_timeout * 1000,
    supportsReasoning: params.supports_reasoning,
    parameters,
    source,
    missingEnv,
    ...(entry.parsers ? { parsers: toParsers(entry.parsers) } : {}),
  };
}

export function toParsers(p: ParsersSettings): ParsersConfig {
  const pu = p.parse_unparsed;
  const sw = p.swap_reasoning_content;
  return {
    enabled: p.enabled,
    response: p.response,
    paths: p.paths,
    maxHeldChars: p.max_held_chars,
    parseUnparsed: {
      parseThinking: pu.parse_thinking,
      parseToolCalls: pu.parse_tool_calls,
      thinkTag: pu.think_tag,
      toolTag: pu.tool_tag,
    },
    swapReasoning: {
      mode: sw.mode,
      thinkTag: sw.think_tag,
      thinkOpen: { prefix: sw.think_open.prefix, suffix: sw.think_open.suffix },
      thinkClose: { prefix: sw.think_close.prefix, suffix: sw.think_close.suffix },
      includeNewline: sw.include_newline,
    },
  };
}

/** Omitted when everything is at its default, so a config without parsers carries nothing extra. */
function toParsing(proxy: Settings['proxy_settings']): { parsing?: ParsingConfig } {
  const logParsedResponse = proxy.logging.log_parsed_response;
  const logParsedStream = proxy.logging.log_parsed_stream ?? logParsedResponse;
  if (!proxy.parsers && !logParsedResponse && !logParsedStream) return {};
  return { parsing: { global: proxy.parsers ? toParsers(proxy.parsers) : null, logParsedResponse, logParsedStream } };
}

/** Relative paths in the config are relative to the project root, never to the working directory. */
function fromRoot(rootDir: string, path: string): string {
  return path === ':memory:' || isAbsolute(path) ? path : resolve(rootDir, path);
}

export function toProxyConfig(input: {
  settings: Settings;
  backends: ReadonlyMap<string, BackendConfig>;
  fallbacks: Readonly<Record<string, readonly string[]>>;
  server: { host: string; port: number };
  rootDir: string;
}): ProxyConfig {
  const { proxy_settings: proxy, router_settings: router, database: db } = input.settings;
  const { timeouts, retry, logging } = proxy;
  const { sqlite, postgres } = db.connection;
  return deepFreeze({
    backends: input.backends,
    fallbacks: input.fallbacks,
    numRetries: router.num_retries,
    server: input.server,
    enableResponsesEndpoint: proxy.enable_responses_endpoint,
    maxRequestBytes: proxy.max_request_body_bytes,
    maxResponseBytes: proxy.max_response_body_bytes,
    maxUpstreamConnections: proxy.max_upstream_connections,
    timeouts: { connectMs: timeouts.connect_ms, streamIdleMs: timeouts.stream_idle_ms, bodyMs: timeouts.body_ms },
    retry: {
      baseDelayMs: retry.base_delay_ms,
      maxDelayMs: retry.max_delay_ms,
      maxRetryAfterMs: retry.max_retry_after_ms,
    },
    logging: {
      filesEnabled: logging.files,
      dir: fromRoot(input.rootDir, logging.dir),
      maxBodyBytes: logging.max_body_bytes,
      maxStreamChunks: logging.max_stream_chunks,
      maxStreamChunkBytes: logging.max_stream_chunk_bytes,
      redactHeaders: logging.redact_headers,
    },
    database: {
      enabled: db.enabled,
      backend: db.backend,
      autoMigrate: db.auto_migrate,
      sqlite: { path: fromRoot(input.rootDir, sqlite.path) },
      postgres: {
        host: postgres.host,
        port: postgres.port,
        database: postgres.database,
        user: postgres.user,
        password: postgres.password,
      },
      poolSize: db.pool_size,
      maxOverflow: db.max_overflow,
      batchMaxRows: db.batch.max_rows,
      batchMaxMs: db.batch.max_ms,
      queueMaxRows: db.queue_max_rows,
      spoolDir: fromRoot(input.rootDir, db.spool_dir),
      retention: {
        rawDays: db.retention.raw_days,
        minuteRollupDays: db.retention.minute_rollup_days,
        hourRollupDays: db.retention.hour_rollup_days,
        intervalMs: db.retention.interval_minutes * 60_000,
      },
    },
    ...toParsing(proxy),
  });
}

function refuseMutation(): never {
  throw new TypeError('the configuration is frozen');
}

/** Freezes objects, arrays and Map values; a Map additionally refuses set/delete/clear at run time. */
export function deepFreeze<T>(value: T): T {
  if (value instanceof Map) {
    for (const item of value.values()) deepFreeze(item);
    for (const method of ['set', 'delete', 'clear']) {
      Object.defineProperty(value, method, { value: refuseMutation });
    }
  } else if (Array.isArray(value)) {
    value.forEach(deepFreeze);
  } else if (typeof value === 'object' && value !== null) {
    Object.values(value).forEach(deepFreeze);
  } else {
    return value;
  }
  return Object.freeze(value);
}
