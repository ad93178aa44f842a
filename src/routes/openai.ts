import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono } from 'hono';
import type { AppDeps } from '../app.ts';
import type { ClientAuthVariables } from '../auth/client.ts';
import { RequestRecorder } from '../logging/record.ts';
import { BodyAborted, readBodyLimited, readIncomingLimited } from '../openai/body-limit.ts';
import { asProxyError, errorResponse, errors, ProxyError } from '../openai/errors.ts';
import { parseJsonBody, validatePayload, type Endpoint } from '../openai/validate.ts';
import { buildRoute, normalizeModelName } from '../routing/route.ts';
import { ResponseCloseSignal, type ClientSignal } from '../upstream/client-signal.ts';
import { ClientCancelled, forward } from '../upstream/forward.ts';

/** `/v1/*` proxy endpoints. Every request here yields exactly one finalized RequestRecord. */
export function openaiRoutes(deps: AppDeps): Hono<{ Variables: ClientAuthVariables }> {
  const app = new Hono<{ Variables: ClientAuthVariables }>();
  const handle = (endpoint: Endpoint) => async (c: HandlerContext) =>
    proxyRequest(deps, endpoint, c.req.raw, c.get('clientKey') ?? null, nodeBindings(c.env));

  app.post('/chat/completions', (c) => handle('chat')(c));
  app.post('/completions', (c) => handle('completions')(c));
  app.post('/embeddings', (c) => handle('embeddings')(c));
  app.post('/responses', (c) => {
    if (!deps.getConfig().enableResponsesEndpoint) return errorResponse(errors.notFound(c.req.path));
    return handle('responses')(c);
  });
  return app;
}

interface HandlerContext {
  req: { raw: Request };
  env: unknown;
  get(key: 'clientKey'): string | null;
}

/** node-server passes the raw node objects as `c.env`; `app.request()` in tests does not. */
function nodeBindings(env: unknown): NodeBindings | null {
  const e = env as Partial<NodeBindings> | undefined;
  return e?.incoming && e.outgoing ? (e as NodeBindings) : null;
}

interface NodeBindings {
  incoming: IncomingMessage;
  outgoing: ServerResponse;
}

/** Path and query straight from the URL string: cheaper than a URL object per request. */
function splitUrl(url: string): { path: string; query: string } {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  const q = url.indexOf('?', start);
  return q < 0 ? { path: url.slice(start), query: '' } : { path: url.slice(start, q), query: url.slice(q + 1) };
}

function startRecorder(deps: AppDeps, req: Request, url: { path: string; query: string }, maxBodyBytes: number, node: NodeBindings | null): RequestRecorder {
  deps.counters.start();
  return new RequestRecorder({
    id: crypto.randomUUID(),
    method: req.method,
    path: url.path,
    query: url.query,
    headers: deps.detail !== false ? deps.sanitize(node ? node.incoming.headers : req.headers) : {},
    sink: deps.sink,
    maxBodyBytes,
    counters: deps.counters,
  });
}

/** A `/v1/*` request without a valid client key: answered 401 and still recorded, body unread. */
export function rejectClient(deps: AppDeps, req: Request): Response {
  const recorder = startRecorder(deps, req, splitUrl(req.url), deps.getConfig().logging.maxBodyBytes, null);
  const err = errors.invalidApiKey();
  recorder.addError(err.logType, err.message, { httpStatus: err.status });
  recorder.setResponse(err.status, null);
  recorder.setResponseBody(JSON.stringify({ error: { message: err.message, code: err.code } }));
  recorder.finalize('error');
  return errorResponse(err, { 'x-request-id': recorder.id });
}

async function proxyRequest(
  deps: AppDeps,
  endpoint: Endpoint,
  req: Request,
  clientKey: string | null,
  node: NodeBindings | null,
): Promise<Response> {
  const config = deps.getConfig();
  const url = splitUrl(req.url);
  const recorder = startRecorder(deps, req, url, config.logging.maxBodyBytes, node);
  const clientSignal: ClientSignal = node ? new ResponseCloseSignal(node.outgoing) : req.signal;
  recorder.setClientKey(clientKey);
  const idHeader = { 'x-request-id': recorder.id };

  try {
    const raw = await (node ? readIncomingLimited(node.incoming, config.maxRequestBytes) : readBodyLimited(req, config.maxRequestBytes));
    const parsed = parseJsonBody(raw);
    recorder.setBody(raw, parsed.ok ? parsed.payload : parsed.parsed);
    if (!parsed.ok) throw parsed.error;
    const payload = parsed.payload;
    if (typeof payload.model === 'string' && payload.model.trim()) recorder.setModel(normalizeModelName(payload.model));
    const invalid = validatePayload(endpoint, payload);
    if (invalid) throw invalid;

    const model = recorder.model;
    const isStream = payload.stream === true;
    recorder.setStream(isStream);
    const route = buildRoute(config, model);
    recorder.setRoute(route.map((b) => b.name));
    if (route.length === 0) throw errors.modelNotFound(model);

    return await forward(deps, {
      config,
      route,
      path: url.path,
      query: url.query,
      payload,
      raw,
      isStream,
      headers: node ? node.incoming.headers : req.headers,
      clientSignal,
      recorder,
    });
  } catch (err) {
    if (err instanceof ClientCancelled || err instanceof BodyAborted || (clientSignal.aborted && !(err instanceof ProxyError))) {
      recorder.addError('client_disconnect', 'client disconnected before the response started');
      recorder.finalize('cancelled');
      return new Response(null, { status: 499 });
    }
    const proxyErr = asProxyError(err);
    if (!(err instanceof ProxyError)) deps.log.error(`request ${recorder.id} failed: ${(err as Error)?.stack ?? String(err)}`);
    recorder.addError(proxyErr.logType, proxyErr.message, { httpStatus: proxyErr.status });
    recorder.setResponse(proxyErr.status, null);
    recorder.setResponseBody(JSON.stringify({ error: { message: proxyErr.message, code: proxyErr.code } }));
    recorder.finalize('error');
    return errorResponse(proxyErr, idHeader);
  }
}
