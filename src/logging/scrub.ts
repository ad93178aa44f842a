/**
 * The last pass over a record before it leaves the process (files, rows): the recorder already
 * masks headers, so this is defence in depth, and it also masks credentials carried in URLs and
 * query strings.
 */
import { maskSecret } from './sanitize.ts';
import type { HeaderSanitizer } from './sanitize.ts';
import type { RequestRecord } from './types.ts';

/** What `maskSecret` produces; masking it again would only lose the hint it keeps (`Bearer sk-****`). */
const MASKED = /^(?:(?:bearer|basic)\s+)?\S{0,3}\*{4}$/i;
/** Query parameters some upstreams use for credentials (e.g. `?key=` on Gemini). */
const SECRET_PARAM = /^(?:api[-_]?key|key|access[-_]?token|token|password|secret)$/i;

function scrubHeaders(headers: Readonly<Record<string, string>>, sanitize: HeaderSanitizer): Record<string, string> {
  const out = sanitize(Object.entries(headers));
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toLowerCase();
    if (out[key] !== value && MASKED.test(value)) out[key] = value;
  }
  return out;
}

function scrubQuery(query: string): string {
  return query.replace(/(^|[&;])([^=&;#]+)=([^&;#]*)/g, (match, sep: string, name: string, value: string) =>
    SECRET_PARAM.test(name) && value && !MASKED.test(value) ? `${sep}${name}=${maskSecret(value)}` : match,
  );
}

function scrubUrl(url: string): string {
  const noUserinfo = url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:)[^/?#@]*@/i, '$1****@');
  const q = noUserinfo.indexOf('?');
  return q < 0 ? noUserinfo : noUserinfo.slice(0, q + 1) + scrubQuery(noUserinfo.slice(q + 1));
}

/**
 * The recorder already masks headers; this second pass is defence in depth, so a future caller that
 * forgets cannot put a credential on disk. It also masks credentials carried in URLs and queries.
 */
export function scrubRecord(r: RequestRecord, sanitize: HeaderSanitizer): RequestRecord {
  return {
    ...r,
    query: scrubQuery(r.query),
    headers: scrubHeaders(r.headers, sanitize),
    attempts: r.attempts.map((a) => ({
      ...a,
      url: scrubUrl(a.url),
      responseHeaders: a.responseHeaders ? scrubHeaders(a.responseHeaders, sanitize) : null,
    })),
  };
}
