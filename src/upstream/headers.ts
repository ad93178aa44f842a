import type { IncomingHttpHeaders } from 'undici/types/header.js';
import { forEachHeader, type HeaderSource } from '../logging/sanitize.ts';

/** RFC 9110 §7.6.1 connection-specific headers: they describe one hop, never the next. */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
];

/** Plus what the proxy recomputes itself and the client's own credentials (never forwarded). */
const DROP_OUTBOUND = new Set([
  ...HOP_BY_HOP,
  'proxy-authorization',
  'host',
  'content-length',
  'authorization',
  'x-api-key',
  'api-key',
  'cookie',
  // The proxy parses streams on the side, so it asks for identity encoding.
  'accept-encoding',
]);

/** Plus lengths/encodings the proxy's own server sets, and upstream cookies (not the client's business). */
const DROP_INBOUND = new Set([...HOP_BY_HOP, 'content-length', 'content-encoding', 'set-cookie']);

export function outboundHeaders(
  incoming: HeaderSource,
  opts: { apiKey: string; isStream: boolean; extraDrop?: ReadonlySet<string> },
): Record<string, string> {
  const out: Record<string, string> = {};
  forEachHeader(incoming, (name, value) => {
    if (DROP_OUTBOUND.has(name) || opts.extraDrop?.has(name)) return;
    out[name] = value;
  });
  out['content-type'] = 'application/json';
  out['accept-encoding'] = 'identity';
  if (opts.isStream) out.accept = 'text/event-stream';
  if (opts.apiKey) out.authorization = `Bearer ${opts.apiKey}`;
  return out;
}

export function inboundHeaders(upstream: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || DROP_INBOUND.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
