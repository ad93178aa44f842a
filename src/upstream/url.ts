export interface UpstreamTarget {
  origin: string;
  path: string;
  url: string;
}

export interface ParsedBase {
  origin: string;
  /** Path without trailing slashes. */
  path: string;
  /** Query string of api_base without '?', kept first (Azure's api-version). */
  query: string;
}

export function parseApiBase(apiBase: string): ParsedBase {
  const base = new URL(apiBase);
  return { origin: base.origin, path: base.pathname.replace(/\/+$/, ''), query: base.search.slice(1) };
}

/**
 * `api_base` already carries its version prefix (`https://api.x.com/v1`), so the client's
 * leading `/v1` is dropped: `/v1/chat/completions` → `<api_base>/chat/completions`.
 */
export function upstreamTarget(base: ParsedBase | string, path: string, query: string): UpstreamTarget {
  const b = typeof base === 'string' ? parseApiBase(base) : base;
  let rest = path.startsWith('/') ? path : `/${path}`;
  if (rest === '/v1' || rest.startsWith('/v1/')) rest = rest.slice(3) || '/';
  let fullPath = `${b.path}${rest}`;
  const q = b.query && query ? `${b.query}&${query}` : b.query || query;
  if (q) fullPath += `?${q}`;
  return { origin: b.origin, path: fullPath, url: `${b.origin}${fullPath}` };
}
