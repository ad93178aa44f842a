/**
 * `api_base` already carries its version prefix (`https://api.x.com/v1`), so the client's
 * leading `/v1` is dropped: `/v1/chat/completions` → `<api_base>/chat/completions`.
 */
export function upstreamTarget(apiBase: string, path: string, query: string): { origin: string; path: string; url: string } {
  const base = new URL(apiBase);
  let rest = path.startsWith('/') ? path : `/${path}`;
  if (rest === '/v1' || rest.startsWith('/v1/')) rest = rest.slice(3) || '/';
  const basePath = base.pathname.replace(/\/+$/, '');
  let fullPath = `${basePath}${rest}`;
  const extra = base.search ? base.search.slice(1) : '';
  const q = [extra, query].filter(Boolean).join('&');
  if (q) fullPath += `?${q}`;
  return { origin: base.origin, path: fullPath, url: `${base.origin}${fullPath}` };
}
