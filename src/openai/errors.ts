import type { ErrorType } from '../logging/types.ts';

/** OpenAI's error envelope: https://platform.openai.com/docs/guides/error-codes */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

interface ProxyErrorInit {
  status: number;
  type: string;
  code: string | null;
  param?: string | null;
  /** How the error is classified in the request record / error_logs. */
  logType: ErrorType;
  headers?: Record<string, string>;
}

/** Every error the proxy itself produces. `toOpenAIError` is the one place that renders them. */
export class ProxyError extends Error {
  readonly status: number;
  readonly type: string;
  readonly code: string | null;
  readonly param: string | null;
  readonly logType: ErrorType;
  readonly headers: Record<string, string>;

  constructor(message: string, init: ProxyErrorInit) {
    super(message);
    this.name = 'ProxyError';
    this.status = init.status;
    this.type = init.type;
    this.code = init.code;
    this.param = init.param ?? null;
    this.logType = init.logType;
    this.headers = init.headers ?? {};
  }
}

const invalid = (message: string, code: string, param: string | null = null): ProxyError =>
  new ProxyError(message, { status: 400, type: 'invalid_request_error', code, param, logType: 'invalid_request' });

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
  internal: () =>
    new ProxyError('Internal proxy error', { status: 500, type: 'server_error', code: 'internal_error', logType: 'internal_error' }),
};

export function toOpenAIError(err: ProxyError): OpenAIErrorBody {
  return { error: { message: err.message, type: err.type, param: err.param, code: err.code } };
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
