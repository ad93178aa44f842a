import type { ClientSignal } from './client-signal.ts';
import type { BackendConfig, ProxyConfig } from '../config/types.ts';
import type { RequestRecorder } from '../logging/record.ts';
import type { HeaderSanitizer, HeaderSource } from '../logging/sanitize.ts';
import { errors } from '../openai/errors.ts';
import { parsersFor } from '../parsers/config.ts';
import { buildUpstreamBody, type JsonObject } from '../routing/body.ts';
import { attemptOnce, type AttemptFailure } from './attempt.ts';
import { backoffDelay } from './classify.ts';
import { outboundHeaders } from './headers.ts';
import type { UpstreamPools } from './pools.ts';
import { upstreamTarget } from './url.ts';
import { asBodyInit, decodeCapped } from './body.ts';

export interface ForwardDeps {
  pools: UpstreamPools;
  sanitize: HeaderSanitizer;
  /** Capture response headers, bodies and stream contents for the record (false: no sink keeps them). */
  detail?: boolean;
}

export interface ForwardRequest {
  config: ProxyConfig;
  route: readonly BackendConfig[];
  path: string;
  query: string;
  payload: JsonObject;
  raw: Uint8Array;
  isStream: boolean;
  /** The client's headers: node's plain object when served by node-server, else web Headers. */
  headers: HeaderSource;
  clientSignal: ClientSignal;
  recorder: RequestRecorder;
}

export class ClientCancelled extends Error {
  constructor() {
    super('client disconnected');
  }
}

/**
 * The attempt loop: each backend of the route gets `numRetries` attempts with exponential
 * backoff (honouring retry-after), then the next backend. Resolves with the response for the
 * client; the recorder is finalized here for every non-streamed outcome and by the relay for
 * streamed ones.
 */
export async function forward(deps: ForwardDeps, req: ForwardRequest): Promise<Response> {
  const { config, recorder } = req;
  const isChat = req.path.endsWith('/chat/completions');
  let lastFailure: AttemptFailure | null = null;
  const tried: string[] = [];
  let lastMessage = '';

  for (const backend of req.route) {
    if (backend.missingEnv.length > 0) {
      const err = errors.modelMisconfigured(backend.name, backend.missingEnv);
      recorder.addError('configuration_error', err.message, { backend: backend.name });
      tried.push(backend.name);
      continue;
    }
    const target = upstreamTarget(deps.pools.base(backend), req.path, req.query);
    const body = buildUpstreamBody(backend, req.payload, req.raw, { isStream: req.isStream, isChat });
    const headers = outboundHeaders(req.headers, { apiKey: backend.apiKey, isStream: req.isStream });
    const parsers = parsersFor(config, backend, req.path);
    tried.push(backend.name);

    for (let attempt = 1; attempt <= config.numRetries; attempt++) {
      if (req.clientSignal.aborted) throw new ClientCancelled();
      const outcome = await attemptOnce({
        pools: deps.pools,
        sanitize: deps.sanitize,
        detail: deps.detail !== false,
        config,
        backend,
        attempt,
        target,
        body,
        headers,
        isStream: req.isStream,
        clientSignal: req.clientSignal,
        recorder,
        parsers,
      });
      if (outcome.kind === 'response') return outcome.response;
      if (outcome.kind === 'cancelled') throw new ClientCancelled();
      lastMessage = `${backend.name}: ${outcome.failure.message}`;
      if (outcome.failure.response) lastFailure = outcome.failure;
      if (attempt < config.numRetries) {
        const delay = backoffDelay(attempt, config.retry, outcome.failure.retryAfterMs);
        await sleep(delay, req.clientSignal);
      }
    }
  }

  if (lastFailure?.response) {
    const { status, headers, body } = lastFailure.response;
    recorder.setResponse(status, lastFailure.backend);
    recorder.setResponseBody(decodeCapped([body], config.logging.maxBodyBytes));
    recorder.finalize('error');
    return new Response(asBodyInit(body), { status, headers: { ...headers, 'x-request-id': recorder.id } });
  }
  const misconfigured = req.route.filter((b) => b.missingEnv.length > 0);
  if (misconfigured.length === req.route.length && misconfigured[0]) {
    throw errors.modelMisconfigured(misconfigured[0].name, misconfigured[0].missingEnv);
  }
  throw errors.allBackendsFailed(
    `All backends failed for model '${recorder.model}' (tried: ${tried.join(', ')}); last error: ${lastMessage}`,
  );
}

function sleep(ms: number, signal: ClientSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new ClientCancelled());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
