import type { ErrorType } from '../logging/types.ts';

/** OpenAI's error envelope: https://platform.openai.com/docs/guides/error-codes */
export interface OpenAIErrorBody {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
    /** Every problem, one per item, when the message summarises several (config validation). */
    details?: readonly string[];
  };
}

interface ProxyErrorInit {
  status: number;
  type: string;
  code: string | null;
  param?: string | null;
  /** How the error is classified in the request record / error_logs. */
  logType: ErrorType;
  headers?: Record<string, string>;
  details?: readonly string[];
}

/** Every error the proxy itself produces. `toOpenAIError` is the one place that renders them. */
export class ProxyError extends Error {
  readonly status: number;
  readonly type: string;
  readonly code: string | null;
  readonly param: string | null;
  readonly logType: ErrorType;
  readonly headers: Record<string, string>;
  readonly details: readonly string[] | null;

  constructor(message: string, init: ProxyErrorInit) {
    super(message);
    this.name = 'ProxyError';
    this.status = init.status;
    this.type = init.type;
    this.code = init.code;
    this.param = init.param ?? null;
    this.logType = init.logType;
    this.headers = init.headers ?? {};
    this.details = init.details ?? null;
  }
}

const invalid = (message: string, code: string, param: string | null = null): ProxyError =>
  new ProxyError(message, { status: 400, type: 'invalid_request_error', code, param, logType: 'invalid_request' });

/** Admin API errors; their messages are the original's where it had one. */
const admin = (status: number, code: string, message: string, param: string | null = null): ProxyError =>
  new ProxyError(message, { status, type: 'invalid_request_error', code, param, logType: 'invalid_request' });

export const errors = {
  invalidJson: () => invalid('Invalid JSON payload', 'invalid_json'),
  invalidJsonShape: () => invalid('Request body must be a JSON object', 'invalid_json_shape'),
  missingModel: () => invalid('You must provide a model parameter', 'missing_parameter', 'model'),
  missingMessages: () => invalid('You must provide a messages array', 'missing_parameter', 'messages'),
  missingInput: () => invalid('You must provide an input parameter', 'missing_parameter', 'input'),
  missingPrompt: () => invalid('You must provide a prompt parameter', 'missing_parameter', 'prompt'),
  invalidParameter: (param: string, message: string) => invalid(message, 'invalid_parameter', param),
  modelNotFound: (model: string) =>
    new ProxyError(`The model '${model}' does not exist or is not configured on this proxy`, {
      status: 404,
      type: 'invalid_request_error',
      code: 'model_not_found',
      param: 'model',
      logType: 'model_not_found',
    }),
  requestTooLarge: (limit: number) =>
    new ProxyError(`Request body exceeds the limit of ${limit} bytes`, {
      status: 413,
      type: 'invalid_request_error',
      code: 'request_too_large',
      logType: 'request_too_large',
    }),
  modelMisconfigured: (model: string, vars: readonly string[]) =>
    new ProxyError(
      `Model '${model}' cannot be used: environment variable(s) ${vars.map((v) => `'${v}'`).join(', ')} not set`,
      { status: 500, type: 'server_error', code: 'model_misconfigured', logType: 'configuration_error' },
    ),
  allBackendsFailed: (detail: string) =>
    new ProxyError(detail, { status: 502, type: 'upstream_error', code: 'all_backends_failed', logType: 'http_error' }),
  notFound: (path: string) =>
    new ProxyError(`Unknown path: ${path}`, {
      status: 404,
      type: 'invalid_request_error',
      code: 'unknown_url',
      logType: 'invalid_request',
    }),
  invalidApiKey: () =>
    new ProxyError('Missing or invalid API key: send a configured client key as Authorization: Bearer <key> or x-api-key', {
      status: 401,
      type: 'invalid_request_error',
      code: 'invalid_api_key',
      logType: 'unauthorized',
      headers: { 'www-authenticate': 'Bearer realm="yallmp"' },
    }),
  adminUnauthorized: () =>
    new ProxyError('Missing or invalid admin token: send it as Authorization: Bearer <token> or x-admin-token', {
      status: 401,
      type: 'invalid_request_error',
      code: 'invalid_admin_token',
      logType: 'unauthorized',
      headers: { 'www-authenticate': 'Bearer realm="yallmp-admin"' },
    }),
  adminLoopbackOnly: () =>
    new ProxyError(
      'No admin token is configured, so the admin API answers loopback clients only ' +
        '(set YALLMP_ADMIN_TOKEN or proxy_settings.auth.admin_token)',
      { status: 403, type: 'invalid_request_error', code: 'admin_loopback_only', logType: 'unauthorized' },
    ),
  adminInvalidJson: () => admin(400, 'invalid_json', 'Invalid JSON body'),
  adminInvalidShape: () => admin(400, 'invalid_json_shape', 'body must be a JSON object'),
  adminMissing: (param: string, message: string) => admin(400, 'missing_parameter', message, param),
  adminInvalid: (param: string | null, message: string) => admin(400, 'invalid_parameter', message, param),
  adminModelNotFound: (message: string) => admin(404, 'model_not_found', message),
  adminConflict: (message: string, code = 'conflict') => admin(409, code, message),
  invalidConfig: (summary: string, problems: readonly string[]) =>
    new ProxyError(`${summary}: ${problems.join('; ')}`, {
      status: 400,
      type: 'invalid_request_error',
      code: 'invalid_config',
      logType: 'configuration_error',
      details: problems,
    }),
  configWriteFailed: (message: string) =>
    new ProxyError(message, { status: 500, type: 'server_error', code: 'config_write_failed', logType: 'internal_error' }),
  internal: () =>
    new ProxyError('Internal proxy error', { status: 500, type: 'server_error', code: 'internal_error', logType: 'internal_error' }),
};

export function toOpenAIError(err: ProxyError): OpenAIErrorBody {
  const error = { message: err.message, type: err.type, param: err.param, code: err.code };
  return { error: err.details ? { ...error, details: err.details } : error };
}

/** Anything thrown becomes a ProxyError; unknown errors never leak their text to the client. */
export function asProxyError(err: unknown): ProxyError {
  return err instanceof ProxyError ? err : errors.internal();
}

export function errorResponse(err: ProxyError, extraHeaders?: Record<string, string>): Response {
  return new Response(JSON.stringify(toOpenAIError(err)), {
    status: err.status,
    headers: { 'content-type': 'application/json', ...err.headers, ...extraHeaders },
  });
}
